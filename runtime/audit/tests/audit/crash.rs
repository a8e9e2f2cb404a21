//! Appends cut short by a crash: the log still verifies up to its last
//! complete record, and the next append continues the chain.

use std::time::{Duration, Instant};

use exorun_audit::{
    AuditLog, BreakReason, Durability, Entry, Event, HeadPolicy, VerifyError, VerifyOptions,
    head_path, verify, verify_with,
};
use sha2::{Digest, Sha256};

use crate::common::{call_event, read_lines, run_info, write_calls};
use crate::concurrency::spawn_appender;

/// Makes the log look as if the append of its last record died halfway:
/// the line is cut and the head still names the record before it (the head
/// is written only after the line).
fn tear_last_record(path: &std::path::Path, keep_bytes: usize) {
    let lines = read_lines(path);
    let last = lines.last().unwrap();
    let before = &lines[lines.len() - 2];
    let mut text: String = lines[..lines.len() - 1]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&last[..keep_bytes]);
    std::fs::write(path, text).unwrap();
    let value: serde_json::Value = serde_json::from_str(before).unwrap();
    std::fs::write(
        head_path(path),
        format!(
            "{{\"seq\":{},\"hash\":\"{}\"}}\n",
            value["seq"],
            value["hash"].as_str().unwrap()
        ),
    )
    .unwrap();
}

#[test]
fn a_torn_last_line_verifies_as_a_torn_tail_after_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 5);
    tear_last_record(&path, 100);
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 4);
    assert_eq!(summary.torn.len(), 1);
    let torn = &summary.torn[0];
    assert_eq!(
        (torn.line, torn.after_seq, torn.bytes, torn.at_end),
        (5, 4, 100, true)
    );
}

#[test]
fn the_next_append_removes_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let records = write_calls(&path, 5);
    tear_last_record(&path, 100);
    let next = write_calls(&path, 1).remove(0);
    assert_eq!(next.seq, 5);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 5);
    assert_eq!(next.prev, hex::encode(Sha256::digest(lines[3].as_bytes())));
    assert_ne!(next.hash, records[4].hash);
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 5);
    assert_eq!(summary.lines, 5);
    assert_eq!(summary.torn, vec![]);
}

#[test]
fn repeated_crashes_leave_torn_lines_that_the_next_append_removes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    tear_last_record(&path, 20);
    // A second append dies after writing only its leading newline and a bit
    // (as the writers before this version did).
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n{\"seq\":3,\"time\":\"20");
    std::fs::write(&path, text).unwrap();
    let next = write_calls(&path, 1).remove(0);
    assert_eq!(next.seq, 3);
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 3);
    assert_eq!(summary.lines, 3);
    assert_eq!(summary.torn, vec![]);
}

#[test]
fn a_junk_line_in_the_middle_fails_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let mut lines = read_lines(&path);
    // Shaped like the start of the next record, as a torn append would be,
    // but with records after it: not a crash, an insertion.
    lines.insert(
        2,
        "{\"seq\":3,\"time\":\"2026-12-01\",\"note\":\"anything at all".to_owned(),
    );
    crate::common::write_lines(&path, &lines);
    match verify(&path) {
        Err(VerifyError::Broken { line, reason, .. }) => {
            assert_eq!(line, 3);
            assert!(
                reason.to_string().contains(
                    "only the last line of a log, cut short by a crash, may be incomplete"
                ),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_record_cut_just_before_its_newline_is_kept_and_chained_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let records = write_calls(&path, 3);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end_matches('\n')).unwrap();
    assert_eq!(verify(&path).unwrap().records, 3);
    let next = write_calls(&path, 1).remove(0);
    assert_eq!(next.seq, 4);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 4);
    assert_eq!(next.prev, hex::encode(Sha256::digest(lines[2].as_bytes())));
    assert_eq!(verify(&path).unwrap().last.hash, next.hash);
    assert_eq!(records.len(), 3);
}

#[test]
fn a_torn_line_in_the_middle_that_is_not_a_record_prefix_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let mut lines = read_lines(&path);
    // Claims to be record 7 where record 2 is due: not a torn append.
    lines.insert(1, "{\"seq\":7,\"time\":\"2026".to_owned());
    crate::common::write_lines(&path, &lines);
    match verify(&path) {
        Err(VerifyError::Broken { line, reason, .. }) => {
            assert_eq!(line, 2);
            assert!(matches!(reason, BreakReason::NotARecord { .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn appending_after_a_garbage_tail_is_refused_not_chained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 2);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("garbage\n");
    std::fs::write(&path, text).unwrap();
    let run = run_info("r");
    let err = AuditLog::open(&path)
        .unwrap()
        .append(Entry::new(&run, &Event::RunStart))
        .unwrap_err();
    assert!(
        matches!(err, exorun_audit::AuditError::CorruptTail { .. }),
        "{err}"
    );
}

#[test]
fn a_child_killed_while_appending_leaves_a_log_that_verifies_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut expected_records = 0;
    for round in 0..3 {
        let mut child = spawn_appender(&path, "forever", &format!("doomed-{round}"), None);
        let target = expected_records + 200;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let newlines = std::fs::read(&path)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0);
            if newlines >= target as usize || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let summary = verify(&path).unwrap();
        assert!(summary.records >= target, "{summary:?}");
        // The head is written after the line, so it may lag by one.
        let head = summary.head.clone().unwrap();
        assert!(head.seq + 1 >= summary.records, "{summary:?}");

        let run = run_info("survivor");
        let mut log = AuditLog::open(&path)
            .unwrap()
            .with_durability(Durability::Fsync);
        let next = log.append(Entry::new(&run, &call_event(0))).unwrap();
        assert_eq!(next.seq, summary.records + 1);
        let after = verify_with(
            &path,
            &VerifyOptions {
                head: HeadPolicy::Require,
                expect_last: Some(summary.last.clone()),
            },
        )
        .unwrap();
        assert_eq!(after.records, summary.records + 1);
        assert_eq!(after.last.hash, next.hash);
        expected_records = after.records;
    }
}

#[test]
fn a_record_stripped_of_its_hash_to_pass_for_torn_is_not_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 5);
    let mut lines = read_lines(&path);
    let cut = lines[2].len() - 75;
    lines[2] = format!("{}}}", &lines[2][..cut]);
    crate::common::write_lines(&path, &lines);
    match verify(&path) {
        Err(VerifyError::Broken { line, reason, .. }) => {
            assert_eq!(line, 3);
            assert!(matches!(reason, BreakReason::NotARecord { .. }), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn query_returns_a_complete_last_record_that_lacks_only_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end_matches('\n')).unwrap();
    let seqs: Vec<u64> = exorun_audit::query(&path, exorun_audit::Filter::default())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    // A torn tail, by contrast, is passed over.
    tear_last_record(&path, 30);
    let seqs: Vec<u64> = exorun_audit::query(&path, exorun_audit::Filter::default())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
}

#[test]
fn verify_lists_runs_without_an_end_and_their_writes_of_unknown_outcome() {
    use exorun_audit::{CallEvent, RunEndEvent};
    use exorun_cmdlet::Call;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (ended, killed) = (run_info("run-ended"), run_info("run-killed"));
    let write = Call::new("Set-Mailbox")
        .param("Identity", "ann@contoso.com")
        // A parameter that shares a top-level member's name must not
        // confuse the scan.
        .param("readOnly", true);
    let read = Call::new("Get-Mailbox").param("Identity", "ann@contoso.com");
    let mut log = AuditLog::open(&path)
        .unwrap()
        .with_durability(Durability::Flush);
    let events: Vec<(&exorun_audit::RunInfo, Event)> = vec![
        (&ended, Event::RunStart),
        (&killed, Event::RunStart),
        (&ended, Event::Intent(CallEvent::new(&write, &[]))),
        (
            &ended,
            Event::Call(CallEvent::new(&write, &[]).outcome(Ok(1))),
        ),
        (
            &killed,
            Event::Call(CallEvent::new(&read, &[]).outcome(Ok(1))),
        ),
        (&killed, Event::Intent(CallEvent::new(&write, &[]))),
        (
            &killed,
            Event::Call(CallEvent::new(&write, &[]).outcome(Ok(1))),
        ),
        (&killed, Event::Intent(CallEvent::new(&write, &[]))),
        (&ended, Event::RunEnd(RunEndEvent::ok())),
    ];
    for (run, event) in &events {
        log.append(Entry::new(run, event)).unwrap();
    }
    let summary = verify(&path).unwrap();
    assert_eq!(
        summary.unfinished,
        vec![exorun_audit::UnfinishedRun {
            run_id: "run-killed".to_owned(),
            line: 2,
            intents: 2,
            outcomes: 1,
        }]
    );
    assert_eq!(summary.unfinished[0].unknown_writes(), 1);
}

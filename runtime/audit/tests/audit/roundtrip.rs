//! What is written is what verify, query and the table read back.

use std::time::{Duration, SystemTime};

use exorun_audit::{
    AuditLog, CallEvent, DecisionKind, Durability, Entry, Event, Filter, Kind, REDACTED, RunStatus,
    ZERO_HASH, head_path, query, render_table, verify,
};
use exorun_cmdlet::{Call, CmdletError};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::{read_lines, run_info, write_calls, write_run};

#[test]
fn appended_records_round_trip_through_verify_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let written = write_run(&path, &run_info("run-a"));
    assert_eq!(
        written.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(verify(&path).unwrap().records, 5);
    let read: Vec<_> = query(&path, Filter::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, written);
}

#[test]
fn hash_covers_the_line_without_its_hash_member_and_prev_the_previous_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let lines = read_lines(&path);
    let mut prev = ZERO_HASH.to_owned();
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let hash = value["hash"].as_str().unwrap();
        let member = format!(",\"hash\":\"{hash}\"");
        let canonical = line.replacen(&member, "", 1);
        assert!(canonical.ends_with(&format!("\"prev\":\"{prev}\"}}")));
        assert_eq!(hash, hex::encode(Sha256::digest(canonical.as_bytes())));
        assert_eq!(value["prev"], json!(prev));
        prev = hex::encode(Sha256::digest(line.as_bytes()));
    }
}

#[test]
fn records_carry_every_field_in_camel_case_in_a_fixed_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_run(&path, &run_info("run-a"));
    let lines = read_lines(&path);
    let keys = |line: &str| -> Vec<String> {
        let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        value.keys().cloned().collect()
    };
    // serde_json's Map sorts keys, so compare order via positions in the text.
    let order = |line: &str, names: &[&str]| {
        let positions: Vec<usize> = names
            .iter()
            .map(|n| line.find(&format!("\"{n}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
    };
    order(
        &lines[1],
        &[
            "seq",
            "time",
            "kind",
            "runId",
            "plugin",
            "operator",
            "tenant",
            "appId",
            "cmdlet",
            "parameters",
            "readOnly",
            "decision",
            "outcome",
            "durationMs",
            "objects",
            "clientRequestId",
            "prev",
            "hash",
        ],
    );
    assert_eq!(keys(&lines[0]).len(), 10);
    let call: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(call["kind"], json!("call"));
    assert_eq!(call["runId"], json!("run-a"));
    assert_eq!(
        call["plugin"],
        json!({"name": "mailbox-cleanup", "version": "1.2.0", "sha256": "ab".repeat(32)})
    );
    assert_eq!(call["appId"], json!("11111111-2222-3333-4444-555555555555"));
    assert_eq!(call["cmdlet"], json!("Get-Mailbox"));
    assert_eq!(call["parameters"], json!({"ResultSize": "Unlimited"}));
    assert_eq!(call["readOnly"], json!(true));
    assert_eq!(call["decision"], json!("allowed"));
    assert_eq!(call["outcome"], json!("ok"));
    assert_eq!(call["objects"], json!(42));
    assert_eq!(call["durationMs"], json!(120));
    assert_eq!(call["clientRequestId"], json!("req-1"));
    let time = call["time"].as_str().unwrap();
    assert_eq!(time.len(), "2026-11-28T22:18:00.123Z".len());
    assert!(time.ends_with('Z'));

    let denied: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(denied["decision"], json!("denied"));
    assert_eq!(denied["rule"], json!("cmdlets"));
    assert_eq!(denied["outcome"], json!("denied"));
    assert_eq!(denied["readOnly"], json!(false));
    assert_eq!(
        denied["message"],
        json!("denied by cmdlets: Remove-Mailbox is not in the manifest")
    );
    let failed: serde_json::Value = serde_json::from_str(&lines[3]).unwrap();
    assert_eq!(failed["outcome"], json!("not-found"));
    assert_eq!(failed["message"], json!("not found: ghost@contoso.com"));
    assert_eq!(failed.get("objects"), None);

    let end: serde_json::Value = serde_json::from_str(&lines[4]).unwrap();
    assert_eq!(end["kind"], json!("run-end"));
    assert_eq!(end["status"], json!("ok"));
    assert_eq!(
        (
            &end["calls"],
            &end["denied"],
            &end["failed"],
            &end["durationMs"]
        ),
        (&json!(3), &json!(1), &json!(1), &json!(400))
    );
}

#[test]
fn sensitive_parameters_never_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let run = run_info("run-s");
    let call = Call::new("New-Mailbox")
        .param("Name", "bob")
        .param("Password", "Tr0ub4dor&3")
        .param("ApiKey", "k-123456")
        .param("Notes", "the vault code is 1234")
        .param("MicrosoftOnlineServicesID", "bob@contoso.com");
    let event = Event::Call(CallEvent::new(&call, &["notes"]).outcome(Err(
        &CmdletError::invalid_parameter("Password 'Tr0ub4dor&3' does not meet the policy"),
    )));
    let record = AuditLog::open(&path)
        .unwrap()
        .append(Entry::new(&run, &event))
        .unwrap();
    let parameters = record.parameters.unwrap();
    assert_eq!(parameters.get("Name"), Some(&json!("bob")));
    assert_eq!(parameters.get("Password"), Some(&json!(REDACTED)));
    assert_eq!(parameters.get("ApiKey"), Some(&json!(REDACTED)));
    assert_eq!(parameters.get("Notes"), Some(&json!(REDACTED)));
    assert_eq!(
        parameters.get("MicrosoftOnlineServicesID"),
        Some(&json!("bob@contoso.com"))
    );
    assert_eq!(
        record.message.as_deref(),
        Some("invalid parameter: Password '<redacted>' does not meet the policy")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in ["Tr0ub4dor&3", "k-123456", "vault code"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[cfg(unix)]
#[test]
fn a_new_log_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/audit.jsonl");
    AuditLog::open(&path).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&head_path(&path)), 0o600);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
}

#[test]
fn a_new_empty_log_verifies_and_its_head_anchors_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    AuditLog::open(&path).unwrap();
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 0);
    assert_eq!(summary.last.hash, ZERO_HASH);
    // The head is one line, padded with spaces to a fixed width so that
    // updates overwrite it in place.
    let head = std::fs::read_to_string(head_path(&path)).unwrap();
    assert_eq!(
        head.trim_end(),
        format!("{{\"seq\":0,\"hash\":\"{ZERO_HASH}\"}}")
    );
    assert!(head.ends_with('\n') && head.lines().count() == 1);
}

#[test]
fn the_head_file_follows_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let records = write_calls(&path, 4);
    assert_eq!(
        std::fs::read_to_string(head_path(&path))
            .unwrap()
            .trim_end(),
        format!("{{\"seq\":4,\"hash\":\"{}\"}}", records[3].hash)
    );
}

#[test]
fn reopening_a_log_continues_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let more = write_calls(&path, 2);
    assert_eq!(more[0].seq, 4);
    assert_eq!(more[1].seq, 5);
    assert_eq!(verify(&path).unwrap().records, 5);
}

#[test]
fn fsync_durability_writes_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let run = run_info("run-f");
    let mut log = AuditLog::open(&path)
        .unwrap()
        .with_durability(Durability::Fsync);
    let record = log.append(Entry::new(&run, &Event::RunStart)).unwrap();
    assert_eq!(record.kind, Kind::RunStart);
    assert_eq!(verify(&path).unwrap().records, 1);
}

#[test]
fn query_filters_by_run_plugin_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_run(&path, &run_info("run-a"));
    let mut other = run_info("run-b");
    other.plugin.name = "other-plugin".to_owned();
    write_run(&path, &other);
    let seqs = |filter: Filter| -> Vec<u64> {
        query(&path, filter)
            .unwrap()
            .map(|r| r.unwrap().seq)
            .collect()
    };
    let by_run = Filter {
        run_id: Some("run-b".to_owned()),
        ..Filter::default()
    };
    assert_eq!(seqs(by_run), [6, 7, 8, 9, 10]);
    let by_plugin = Filter {
        plugin: Some("MAILBOX-CLEANUP".to_owned()),
        ..Filter::default()
    };
    assert_eq!(seqs(by_plugin), [1, 2, 3, 4, 5]);
    let future = Filter {
        since: Some(SystemTime::now() + Duration::from_secs(3600)),
        ..Filter::default()
    };
    assert_eq!(seqs(future), Vec::<u64>::new());
    let past = Filter {
        since: Some(SystemTime::now() - Duration::from_secs(3600)),
        ..Filter::default()
    };
    assert_eq!(seqs(past).len(), 10);
}

#[test]
fn query_reports_a_garbage_line_by_number_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 2);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("garbage\n");
    std::fs::write(&path, text).unwrap();
    let results: Vec<_> = query(&path, Filter::default()).unwrap().collect();
    assert_eq!(results.len(), 3);
    match &results[2] {
        Err(exorun_audit::AuditError::Malformed { line, .. }) => assert_eq!(*line, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_table_lists_one_aligned_row_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut records = write_run(&path, &run_info("0123456789abcdef"));
    for (i, r) in records.iter_mut().enumerate() {
        r.time = format!("2026-11-28T22:18:0{i}.000Z");
    }
    records[1].cmdlet = Some("Get-Mailbox\u{1b}[2J".to_owned());
    assert_eq!(records[4].status, Some(RunStatus::Ok));
    assert_eq!(records[2].decision, Some(DecisionKind::Denied));
    let expected = "\
TIME                      RUN       PLUGIN                 CMDLET           DECISION          OUTCOME    OBJECTS  DURATION
2026-11-28T22:18:00.000Z  01234567  mailbox-cleanup@1.2.0  (run start)
2026-11-28T22:18:01.000Z  01234567  mailbox-cleanup@1.2.0  Get-Mailbox?[2J  allowed           ok         42       120 ms
2026-11-28T22:18:02.000Z  01234567  mailbox-cleanup@1.2.0  Remove-Mailbox   denied (cmdlets)  denied              0 ms
2026-11-28T22:18:03.000Z  01234567  mailbox-cleanup@1.2.0  Set-Mailbox      allowed           not-found           30 ms
2026-11-28T22:18:04.000Z  01234567  mailbox-cleanup@1.2.0  (run end)                          ok                  400 ms
";
    assert_eq!(render_table(&records), expected);
}

#[test]
fn records_longer_than_the_tail_reader_chunk_chain_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let run = run_info("run-big");
    let mut log = AuditLog::open(&path)
        .unwrap()
        .with_durability(Durability::Flush);
    // Values are kept whole up to 4 KiB each, so a record that spans many
    // tail-reader chunks has many of them.
    let part = "x".repeat(3_500);
    for i in 0..3 {
        let mut call =
            Call::new("Set-MailboxAutoReplyConfiguration").param("Identity", format!("u{i}"));
        for p in 0..12 {
            call = call.param(format!("CustomAttribute{p}"), part.as_str());
        }
        let event = Event::Call(CallEvent::new(&call, &[]));
        let record = log.append(Entry::new(&run, &event)).unwrap();
        assert_eq!(record.seq, i + 1);
    }
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 3);
    assert!(summary.bytes > 120_000);
}

#[test]
fn a_batch_chains_exactly_like_single_appends_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let run = run_info("run-batch");
    let events: Vec<Event> = (1..=5).map(crate::common::call_event).collect();
    let mut log = AuditLog::open(&path)
        .unwrap()
        .with_durability(Durability::Flush);
    log.append(Entry::new(&run, &Event::RunStart)).unwrap();
    let last = log
        .append_all(events.iter().map(|e| Entry::new(&run, e)))
        .unwrap()
        .unwrap();
    assert_eq!(last.seq, 6);
    assert_eq!(last.cmdlet.as_deref(), Some("Set-Mailbox"));
    let after = log.append(Entry::new(&run, &Event::RunStart)).unwrap();
    assert_eq!(after.seq, 7);
    assert!(log.append_all(std::iter::empty()).unwrap().is_none());
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 7);
    assert_eq!(
        std::fs::read_to_string(head_path(&path))
            .unwrap()
            .trim_end(),
        format!("{{\"seq\":7,\"hash\":\"{}\"}}", after.hash)
    );
}

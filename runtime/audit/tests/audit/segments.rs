//! Rotation into segments keeps one chain: verify and query read the
//! segments and the active log as one, and removing, editing, renaming or
//! reordering a segment is caught and named.

use exorun_audit::{
    AuditLog, BreakReason, Durability, Entry, Filter, VerifyError, head_path, query, rotate,
    segment_path, segments, verify,
};

use crate::common::{call_event, read_lines, run_info, write_calls, write_lines};

fn broken(
    result: Result<exorun_audit::Summary, VerifyError>,
) -> (Option<std::path::PathBuf>, u64, BreakReason) {
    match result {
        Err(VerifyError::Broken {
            segment,
            line,
            reason,
        }) => (segment, line, reason),
        other => panic!("expected a broken log, got {other:?}"),
    }
}

/// A log of 3 segments (records 1-4, 5-8, 9-12) and an active file
/// holding 13-14.
fn rotated_log(path: &std::path::Path) {
    for _ in 0..3 {
        write_calls(path, 4);
        rotate(path).unwrap().unwrap();
    }
    write_calls(path, 2);
}

#[test]
fn rotation_names_the_segment_by_its_last_record_and_leaves_an_empty_active_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 5);
    let segment = rotate(&path).unwrap().expect("a log with records rotates");
    assert_eq!(segment, segment_path(&path, 5));
    assert_eq!(
        segment.file_name().unwrap().to_str().unwrap(),
        "audit.jsonl.00000000000000000005"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    assert_eq!(read_lines(&segment).len(), 5);
    assert_eq!(segments(&path).unwrap(), vec![(5, segment)]);
    // Nothing new to rotate: no empty segment is made.
    assert_eq!(rotate(&path).unwrap(), None);
    assert_eq!(segments(&path).unwrap().len(), 1);
}

#[test]
fn records_after_a_rotation_chain_from_the_segment_and_verify_as_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let before = write_calls(&path, 4);
    rotate(&path).unwrap().unwrap();
    let after = write_calls(&path, 3);
    assert_eq!(after[0].seq, 5);
    assert_ne!(after[0].prev, exorun_audit::ZERO_HASH);
    assert_ne!(
        after[0].prev, before[3].hash,
        "prev is the line's hash, not the record's"
    );
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 7);
    assert_eq!(summary.first_seq, 1);
    assert_eq!(summary.last.seq, 7);
    assert_eq!(summary.last.hash, after[2].hash);
    assert_eq!(summary.head, Some(summary.last.clone()));
}

#[test]
fn a_handle_open_across_a_rotation_follows_the_log_to_its_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let run = run_info("run-1");
    let mut log = AuditLog::open(&path)
        .unwrap()
        .with_durability(Durability::Flush);
    log.append(Entry::new(&run, &call_event(1))).unwrap();
    log.append(Entry::new(&run, &call_event(2))).unwrap();
    let segment = rotate(&path).unwrap().unwrap();
    let third = log.append(Entry::new(&run, &call_event(3))).unwrap();
    assert_eq!(third.seq, 3);
    assert_eq!(
        read_lines(&segment).len(),
        2,
        "nothing was appended to the segment"
    );
    assert_eq!(read_lines(&path).len(), 1);
    assert_eq!(verify(&path).unwrap().records, 3);
}

#[test]
fn a_log_rotated_many_times_verifies_and_queries_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    assert_eq!(
        segments(&path)
            .unwrap()
            .iter()
            .map(|(seq, _)| *seq)
            .collect::<Vec<_>>(),
        vec![4, 8, 12]
    );
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 14);
    assert_eq!(summary.lines, 14);
    assert_eq!(summary.segments, 3);
    let seqs: Vec<u64> = query(&path, Filter::default())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=14).collect::<Vec<_>>());
}

#[test]
fn a_removed_middle_segment_breaks_the_chain_at_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    std::fs::remove_file(segment_path(&path, 8)).unwrap();
    let (segment, line, reason) = broken(verify(&path));
    assert_eq!(segment, Some(segment_path(&path, 12)));
    assert_eq!(line, 1);
    assert_eq!(
        reason,
        BreakReason::Seq {
            expected: 5,
            found: 9
        }
    );
}

#[test]
fn an_edited_record_in_a_segment_is_named_with_its_segment_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    let segment = segment_path(&path, 8);
    let mut lines = read_lines(&segment);
    lines[1] = lines[1].replace("user2@contoso.com", "user3@contoso.com");
    write_lines(&segment, &lines);
    let (at, line, reason) = broken(verify(&path));
    assert_eq!(at, Some(segment));
    assert_eq!(line, 2);
    assert!(matches!(reason, BreakReason::Hash { .. }), "{reason:?}");
}

#[test]
fn a_segment_cut_short_is_caught_by_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    // The newest segment loses its last record: the segment's name says
    // so before the next file's first record would.
    let segment = segment_path(&path, 12);
    let mut lines = read_lines(&segment);
    lines.pop();
    write_lines(&segment, &lines);
    let (at, line, reason) = broken(verify(&path));
    assert_eq!(at, Some(segment));
    assert_eq!(line, 4);
    assert_eq!(
        reason,
        BreakReason::SegmentEnd {
            named: 12,
            last_seq: 11
        }
    );
}

#[test]
fn swapping_two_segments_names_does_not_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    let (a, b) = (segment_path(&path, 4), segment_path(&path, 8));
    let tmp = dir.path().join("swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    // The oldest file now starts at record 5 (as if 1-4 were archived),
    // and its name says it ends at 4: caught just after its last line.
    let (at, line, reason) = broken(verify(&path));
    assert_eq!(at, Some(a));
    assert_eq!(line, 5);
    assert_eq!(
        reason,
        BreakReason::SegmentEnd {
            named: 4,
            last_seq: 8
        }
    );
}

#[test]
fn archived_oldest_segments_are_reported_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    std::fs::remove_file(segment_path(&path, 4)).unwrap();
    let summary = verify(&path).unwrap();
    assert_eq!(summary.first_seq, 5);
    assert_eq!(summary.records, 10);
    assert_eq!(summary.last.seq, 14);
}

#[test]
fn an_active_log_with_every_segment_removed_does_not_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    for seq in [4, 8, 12] {
        std::fs::remove_file(segment_path(&path, seq)).unwrap();
    }
    let (at, line, reason) = broken(verify(&path));
    assert_eq!(at, None);
    assert_eq!(line, 1);
    assert_eq!(
        reason,
        BreakReason::Seq {
            expected: 1,
            found: 13
        }
    );
}

#[test]
fn cutting_the_whole_active_log_is_truncation_against_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    std::fs::write(&path, "").unwrap();
    let (at, _, reason) = broken(verify(&path));
    assert_eq!(at, None);
    assert!(
        matches!(
            reason,
            BreakReason::Truncated {
                expected_seq: 14,
                last_seq: 12,
                ..
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn a_torn_tail_is_removed_before_rotation_so_segments_end_in_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let mut text = std::fs::read(&path).unwrap();
    let last_line_start = text[..text.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    // A fourth record cut short by a crash.
    let torn = text[last_line_start..last_line_start + 60].to_vec();
    text.extend_from_slice(&torn);
    std::fs::write(&path, &text).unwrap();
    let segment = rotate(&path).unwrap().unwrap();
    assert_eq!(segment, segment_path(&path, 3));
    assert_eq!(read_lines(&segment).len(), 3);
    write_calls(&path, 1);
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 4);
    assert_eq!(summary.torn_count, 0);
}

#[test]
fn a_torn_line_inside_a_segment_is_not_excused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    let segment = segment_path(&path, 12);
    let mut text = std::fs::read(&segment).unwrap();
    text.extend_from_slice(b"{\"seq\":13,\"time\":\"2026");
    std::fs::write(&segment, &text).unwrap();
    let (at, line, reason) = broken(verify(&path));
    assert_eq!(at, Some(segment));
    assert_eq!(line, 5);
    assert!(
        matches!(reason, BreakReason::NotARecord { .. }),
        "{reason:?}"
    );
}

#[test]
fn a_new_head_file_after_rotation_names_the_segment_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let records = write_calls(&path, 3);
    rotate(&path).unwrap().unwrap();
    std::fs::remove_file(head_path(&path)).unwrap();
    // Opening recreates the head from the chain's tail, which is in the
    // segment while the active log is empty.
    AuditLog::open(&path).unwrap();
    let head = std::fs::read_to_string(head_path(&path)).unwrap();
    assert!(head.contains("\"seq\":3"), "{head}");
    assert!(head.contains(&records[2].hash), "{head}");
}

fn seqs_of(lines: &[Vec<u8>]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_slice::<exorun_audit::Record>(l)
                .unwrap()
                .seq
        })
        .collect()
}

#[test]
fn a_follower_streams_new_records_in_order_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 2);
    let mut follower = exorun_audit::Follower::from_end(&path).unwrap();
    assert!(
        follower.poll().unwrap().is_empty(),
        "records from before are not streamed"
    );
    write_calls(&path, 3);
    assert_eq!(seqs_of(&follower.poll().unwrap()), vec![3, 4, 5]);
    // Appended, rotated and appended again between two polls: nothing is
    // lost and nothing repeated.
    write_calls(&path, 1);
    rotate(&path).unwrap().unwrap();
    write_calls(&path, 2);
    assert_eq!(seqs_of(&follower.poll().unwrap()), vec![6, 7, 8]);
    rotate(&path).unwrap().unwrap();
    assert!(follower.poll().unwrap().is_empty());
    write_calls(&path, 1);
    assert_eq!(seqs_of(&follower.poll().unwrap()), vec![9]);
    // The lines are the stored bytes.
    let stored = read_lines(&path);
    write_calls(&path, 1);
    let streamed = follower.poll().unwrap();
    assert_eq!(streamed.len(), 1);
    assert_eq!(
        String::from_utf8(streamed[0].clone()).unwrap(),
        read_lines(&path)[stored.len()]
    );
}

#[test]
fn a_follower_waits_for_a_half_written_line_and_never_streams_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 1);
    let mut follower = exorun_audit::Follower::from_start(&path).unwrap();
    assert_eq!(seqs_of(&follower.poll().unwrap()), vec![1]);
    // A crash leaves half a record...
    let whole = std::fs::read(&path).unwrap();
    let mut text = whole.clone();
    text.extend_from_slice(&whole[..70]);
    std::fs::write(&path, &text).unwrap();
    assert!(follower.poll().unwrap().is_empty());
    // ...which the next append removes before it writes record 2.
    write_calls(&path, 1);
    assert_eq!(seqs_of(&follower.poll().unwrap()), vec![2]);
    assert_eq!(verify(&path).unwrap().records, 2);
}

#[test]
fn an_empty_file_posing_as_a_segment_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    std::fs::write(segment_path(&path, 6), "").unwrap();
    let (at, line, reason) = broken(verify(&path));
    assert_eq!(at, Some(segment_path(&path, 6)));
    assert_eq!(line, 1);
    assert_eq!(
        reason,
        BreakReason::SegmentEnd {
            named: 6,
            last_seq: 4
        }
    );
}

#[test]
fn files_that_only_look_like_segments_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    rotated_log(&path);
    for name in [
        "audit.jsonl.bak",
        "audit.jsonl.12",
        "audit.jsonl.0000000000000000001x",
    ] {
        std::fs::write(dir.path().join(name), "garbage\n").unwrap();
    }
    assert_eq!(segments(&path).unwrap().len(), 3);
    assert_eq!(verify(&path).unwrap().records, 14);
}

#[test]
fn appending_after_every_segment_was_removed_is_refused_not_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    rotate(&path).unwrap().unwrap();
    std::fs::remove_file(segment_path(&path, 3)).unwrap();
    let run = run_info("run-1");
    let err = AuditLog::open(&path)
        .unwrap()
        .append(Entry::new(&run, &call_event(4)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            exorun_audit::AuditError::BehindHead {
                head_seq: 3,
                last_seq: 0,
                ..
            }
        ),
        "{err}"
    );
    // Nothing was written and the head still tells.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let head = std::fs::read_to_string(head_path(&path)).unwrap();
    assert!(head.contains("\"seq\":3"), "{head}");
    let (_, _, reason) = broken(verify(&path));
    assert!(
        matches!(
            reason,
            BreakReason::Truncated {
                expected_seq: 3,
                last_seq: 0,
                ..
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn appending_to_a_log_cut_short_is_refused_so_the_cut_stays_visible() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 5);
    let mut lines = read_lines(&path);
    lines.truncate(2);
    write_lines(&path, &lines);
    let run = run_info("run-1");
    let err = AuditLog::open(&path)
        .unwrap()
        .append(Entry::new(&run, &call_event(6)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "audit log {} ends at record 2 (its segments included), but its head file names record 5: records were removed after they were written; not appending, so that this stays visible; run `exorun audit verify` (if they were removed on purpose, move the head file away with them)",
            path.display()
        )
    );
    assert_eq!(read_lines(&path).len(), 2);
}

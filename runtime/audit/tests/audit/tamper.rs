//! Every way of tampering with a log is caught at the right line.

use exorun_audit::{
    Anchor, AnchorSource, BreakReason, HeadPolicy, VerifyError, VerifyOptions, head_path, verify,
    verify_with,
};
use sha2::{Digest, Sha256};

use crate::common::{read_lines, write_calls, write_lines};

fn broken_at(result: Result<exorun_audit::Summary, VerifyError>) -> (u64, BreakReason) {
    match result {
        Err(VerifyError::Broken { line, reason, .. }) => (line, reason),
        other => panic!("expected a broken log, got {other:?}"),
    }
}

fn no_head() -> VerifyOptions {
    VerifyOptions {
        head: HeadPolicy::Ignore,
        ..VerifyOptions::default()
    }
}

#[test]
fn an_untouched_log_verifies_with_every_record_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let records = write_calls(&path, 10);
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 10);
    assert_eq!(summary.lines, 10);
    assert_eq!(
        summary.last,
        Anchor {
            seq: 10,
            hash: records[9].hash.clone()
        }
    );
    assert_eq!(summary.head, Some(summary.last.clone()));
    assert!(summary.torn.is_empty());
}

#[test]
fn an_edited_parameter_value_is_a_hash_mismatch_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let mut lines = read_lines(&path);
    lines[4] = lines[4].replace("user5@contoso.com", "user6@contoso.com");
    write_lines(&path, &lines);
    let (line, reason) = broken_at(verify(&path));
    assert_eq!(line, 5);
    assert!(matches!(reason, BreakReason::Hash { .. }), "{reason:?}");
}

#[test]
fn an_edited_record_with_a_recomputed_hash_breaks_the_next_line_prev() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let mut lines = read_lines(&path);
    let edited = lines[4].replace("user5@contoso.com", "user6@contoso.com");
    // Re-seal the edited line as an attacker who knows the format would.
    let cut = edited.len() - 75;
    let canonical = format!("{}}}", &edited[..cut]);
    let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    lines[4] = format!("{},\"hash\":\"{hash}\"}}", &edited[..cut]);
    write_lines(&path, &lines);
    let (line, reason) = broken_at(verify(&path));
    assert_eq!(line, 6);
    assert!(matches!(reason, BreakReason::Prev { .. }), "{reason:?}");
}

#[test]
fn a_deleted_middle_record_is_a_seq_gap_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let mut lines = read_lines(&path);
    lines.remove(3);
    write_lines(&path, &lines);
    assert_eq!(
        broken_at(verify(&path)),
        (
            4,
            BreakReason::Seq {
                expected: 4,
                found: 5
            }
        )
    );
}

#[test]
fn two_swapped_records_break_at_the_first_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let mut lines = read_lines(&path);
    lines.swap(6, 7);
    write_lines(&path, &lines);
    assert_eq!(
        broken_at(verify(&path)),
        (
            7,
            BreakReason::Seq {
                expected: 7,
                found: 8
            }
        )
    );
}

#[test]
fn a_removed_last_record_is_truncation_against_the_head_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let mut lines = read_lines(&path);
    lines.pop();
    write_lines(&path, &lines);
    assert_eq!(
        broken_at(verify(&path)),
        (
            10,
            BreakReason::Truncated {
                anchor: AnchorSource::HeadFile,
                expected_seq: 10,
                last_seq: 9
            }
        )
    );
    // Without an anchor the chain alone cannot tell: that is the head's job.
    assert_eq!(verify_with(&path, &no_head()).unwrap().records, 9);
}

#[test]
fn a_removed_last_record_is_truncation_against_an_expected_anchor_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let records = write_calls(&path, 10);
    let shipped = Anchor {
        seq: 10,
        hash: records[9].hash.clone(),
    };
    let mut lines = read_lines(&path);
    lines.pop();
    write_lines(&path, &lines);
    // The attacker also rewrote the local head to match.
    std::fs::write(
        head_path(&path),
        format!("{{\"seq\":9,\"hash\":\"{}\"}}\n", records[8].hash),
    )
    .unwrap();
    let options = VerifyOptions {
        expect_last: Some(shipped),
        head: HeadPolicy::Require,
    };
    assert_eq!(
        broken_at(verify_with(&path, &options)),
        (
            10,
            BreakReason::Truncated {
                anchor: AnchorSource::Expected,
                expected_seq: 10,
                last_seq: 9
            }
        )
    );
}

#[test]
fn an_anchor_whose_hash_differs_from_the_log_names_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 5);
    let options = VerifyOptions {
        expect_last: Some(Anchor {
            seq: 3,
            hash: "ff".repeat(32),
        }),
        head: HeadPolicy::Require,
    };
    let (line, reason) = broken_at(verify_with(&path, &options));
    assert_eq!(line, 3);
    assert!(
        matches!(
            reason,
            BreakReason::AnchorMismatch {
                anchor: AnchorSource::Expected,
                seq: 3,
                ..
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn a_last_record_cut_mid_line_is_truncation_at_that_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    assert_eq!(
        broken_at(verify(&path)),
        (
            10,
            BreakReason::Truncated {
                anchor: AnchorSource::HeadFile,
                expected_seq: 10,
                last_seq: 9
            }
        )
    );
    // Without the head it is indistinguishable from a crash: a torn tail.
    let summary = verify_with(&path, &no_head()).unwrap();
    assert_eq!(summary.records, 9);
    assert_eq!(summary.torn.len(), 1);
    assert_eq!(summary.torn[0].line, 10);
    assert!(summary.torn[0].at_end);
}

#[test]
fn a_garbage_line_is_not_a_record_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 10);
    let mut lines = read_lines(&path);
    lines.insert(2, "rm -rf / # not json".to_owned());
    write_lines(&path, &lines);
    let (line, reason) = broken_at(verify(&path));
    assert_eq!(line, 3);
    assert_eq!(
        reason,
        BreakReason::NotARecord {
            detail: "no hash at the end of the line (only the last line of a log, cut short by a crash, may be incomplete)".to_owned()
        }
    );
}

#[test]
fn a_json_line_that_is_not_a_record_is_reported_with_the_parse_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let mut lines = read_lines(&path);
    lines[1] = format!("{{\"prev\":\"x\",\"hash\":\"{}\"}}", "0".repeat(64));
    write_lines(&path, &lines);
    let (line, reason) = broken_at(verify(&path));
    assert_eq!(line, 2);
    assert!(
        matches!(&reason, BreakReason::NotARecord { detail } if detail.contains("missing field `seq`")),
        "{reason:?}"
    );
}

#[test]
fn invalid_utf8_and_binary_lines_are_failures_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0xff, 0x00, 0xfe, b'\n']);
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(broken_at(verify(&path)).0, 4);
}

#[test]
fn a_missing_head_file_fails_unless_the_caller_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 3);
    std::fs::remove_file(head_path(&path)).unwrap();
    assert!(matches!(verify(&path), Err(VerifyError::Head { .. })));
    let options = VerifyOptions {
        head: HeadPolicy::IfPresent,
        ..VerifyOptions::default()
    };
    assert_eq!(verify_with(&path, &options).unwrap().records, 3);
}

#[test]
fn a_first_record_whose_prev_is_not_zero_is_reported_at_line_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 2);
    let mut lines = read_lines(&path);
    lines.remove(0);
    write_lines(&path, &lines);
    assert_eq!(
        broken_at(verify(&path)),
        (
            1,
            BreakReason::Seq {
                expected: 1,
                found: 2
            }
        )
    );
}

#[test]
fn a_line_without_end_longer_than_the_limit_is_reported_not_buffered_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_calls(&path, 2);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.resize(bytes.len() + exorun_audit::MAX_LINE_BYTES + 10, b'x');
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        broken_at(verify(&path)),
        (
            3,
            BreakReason::TooLong {
                limit: exorun_audit::MAX_LINE_BYTES
            }
        )
    );
}

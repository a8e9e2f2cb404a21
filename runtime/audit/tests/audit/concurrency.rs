//! Several writers at once: processes (this test binary re-run as children)
//! and threads. Nothing may be lost and no two lines may interleave.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exorun_audit::{AuditLog, Durability, Entry, Filter, query, verify};

use crate::common::{call_event, run_info};

const CHILD_LOG: &str = "EXORUN_AUDIT_TEST_CHILD_LOG";
const CHILD_COUNT: &str = "EXORUN_AUDIT_TEST_CHILD_COUNT";
const CHILD_RUN: &str = "EXORUN_AUDIT_TEST_CHILD_RUN";
const CHILD_GO: &str = "EXORUN_AUDIT_TEST_CHILD_GO";

/// Not a test: the body of a child process. Appends `CHILD_COUNT` records
/// (or until killed, for `forever`) once the `CHILD_GO` file exists, so that
/// children start together. Does nothing when run by hand.
#[test]
#[ignore = "run as a child process by other tests"]
fn child_appender() {
    let (Some(path), Some(count)) = (std::env::var_os(CHILD_LOG), std::env::var(CHILD_COUNT).ok())
    else {
        return;
    };
    let run = run_info(&std::env::var(CHILD_RUN).unwrap_or_default());
    if let Some(go) = std::env::var_os(CHILD_GO) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Path::new(&go).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut log = AuditLog::open(&path)
        .unwrap()
        .with_durability(Durability::Flush);
    let limit = count.parse::<u64>().unwrap_or(u64::MAX);
    for i in 1..=limit {
        log.append(Entry::new(&run, &call_event(i))).unwrap();
    }
}

/// Starts this binary as a child running [`child_appender`].
pub fn spawn_appender(path: &Path, count: &str, run_id: &str, go: Option<&Path>) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "concurrency::child_appender",
            "--test-threads=1",
        ])
        .env(CHILD_LOG, path)
        .env(CHILD_COUNT, count)
        .env(CHILD_RUN, run_id)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(go) = go {
        command.env(CHILD_GO, go);
    }
    command.spawn().unwrap()
}

fn count_run(path: &Path, run_id: &str) -> usize {
    let filter = Filter {
        run_id: Some(run_id.to_owned()),
        ..Filter::default()
    };
    query(path, filter).unwrap().count()
}

#[test]
fn two_processes_appending_500_each_lose_nothing_and_interleave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let go: PathBuf = dir.path().join("go");
    let mut children: Vec<Child> = ["proc-a", "proc-b"]
        .iter()
        .map(|run| spawn_appender(&path, "500", run, Some(&go)))
        .collect();
    std::fs::write(&go, "").unwrap();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 1000);
    assert_eq!(summary.lines, 1000);
    assert!(summary.torn.is_empty());
    let seqs: Vec<u64> = query(&path, Filter::default())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    assert_eq!(count_run(&path, "proc-a"), 500);
    assert_eq!(count_run(&path, "proc-b"), 500);
}

#[test]
fn threads_with_their_own_handles_append_concurrently_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::thread::scope(|scope| {
        for t in 0..4 {
            let path = &path;
            scope.spawn(move || {
                let run = run_info(&format!("thread-{t}"));
                let mut log = AuditLog::open(path)
                    .unwrap()
                    .with_durability(Durability::Flush);
                for i in 1..=100 {
                    log.append(Entry::new(&run, &call_event(i))).unwrap();
                }
            });
        }
    });
    let summary = verify(&path).unwrap();
    assert_eq!(summary.records, 400);
    for t in 0..4 {
        assert_eq!(count_run(&path, &format!("thread-{t}")), 100);
    }
}

#[test]
fn threads_sharing_one_log_behind_a_mutex_append_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = std::sync::Mutex::new(
        AuditLog::open(&path)
            .unwrap()
            .with_durability(Durability::Flush),
    );
    std::thread::scope(|scope| {
        for t in 0..4 {
            let log = &log;
            scope.spawn(move || {
                let run = run_info(&format!("shared-{t}"));
                for i in 1..=50 {
                    log.lock()
                        .unwrap()
                        .append(Entry::new(&run, &call_event(i)))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(verify(&path).unwrap().records, 200);
}

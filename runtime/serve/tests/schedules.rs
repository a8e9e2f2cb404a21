//! Schedules against the real history database: each slot fires once, also
//! when the service restarts (a new connection to the same file) or a
//! second instance shares it; overlap and catch-up as configured.

use exorun_serve::schedule::tick;
use exorun_serve::store::rusqlite;
use exorun_serve::store::{FireOutcome, RunStatus, ScheduleRow, Store};
use jiff::Timestamp;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn schedule(name: &str, cron: &str, overlap: &str, catch_up_secs: i64) -> ScheduleRow {
    ScheduleRow {
        name: name.to_owned(),
        plugin: "mailbox-report".to_owned(),
        tenant: "contoso".to_owned(),
        cron: cron.to_owned(),
        time_zone: "UTC".to_owned(),
        overlap: overlap.to_owned(),
        catch_up_secs,
        jitter_secs: 0,
        inputs: serde_json::json!({"batch": "10"}),
        enabled: true,
        source: "config".to_owned(),
        cursor: None,
    }
}

fn open(dir: &std::path::Path, rows: &[ScheduleRow]) -> Store {
    let store = Store::open(&dir.join("history.sqlite")).unwrap();
    store
        .blocking(|c| {
            for row in rows {
                exorun_serve::store::schedules::put_schedule(c, row)?;
            }
            Ok(())
        })
        .unwrap();
    store
}

fn finish_all(store: &Store) {
    store
        .blocking(|c| {
            c.execute(
                "UPDATE runs SET status = 'succeeded' WHERE status IN ('queued', 'running')",
                [],
            )?;
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_slot_fires_once_across_a_restart_and_a_second_instance() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [schedule("hourly", "0 * * * *", "queue", 0)];
    let store = open(dir.path(), &rows);
    // First sight sets the cursor: nothing in the past fires.
    let (fired, wake) = tick(&store, ts("2026-12-05T09:30:00Z")).await.unwrap();
    assert!(fired.is_empty());
    // The scheduler looks again at the next slot, or in 30 s at the latest
    // (a schedule added meanwhile).
    assert_eq!(wake, ts("2026-12-05T09:30:30Z"));
    let (fired, _) = tick(&store, ts("2026-12-05T10:00:01Z")).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].outcome, FireOutcome::Queued);
    let run = fired[0].run.as_ref().unwrap();
    assert_eq!(run.requested_by, "schedule:hourly");
    assert_eq!(run.slot.as_deref(), Some("2026-12-05T10:00:00.000Z"));
    assert_eq!(
        run.inputs_shown,
        vec![("batch".to_owned(), "10".to_owned())]
    );

    // A restart: the same file, a new connection, the same moment.
    drop(store);
    let store = open(dir.path(), &rows);
    let (fired, _) = tick(&store, ts("2026-12-05T10:00:02Z")).await.unwrap();
    assert!(fired.is_empty(), "{fired:?}");

    // A second instance whose cursor lags (it read the schedule before
    // the first fired) still cannot fire the slot again.
    let second = open(dir.path(), &rows);
    second
        .blocking(|c| {
            c.execute(
                "UPDATE schedules SET cursor = '2026-12-05T09:30:00.000Z'",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let (fired, _) = tick(&second, ts("2026-12-05T10:00:03Z")).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].outcome, FireOutcome::AlreadyHandled);
    let runs: i64 = second
        .blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn overlap_skip_records_the_slot_and_queue_adds_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        schedule("skipper", "*/5 * * * *", "skip", 0),
        schedule("queuer", "*/5 * * * *", "queue", 0),
    ];
    let store = open(dir.path(), &rows);
    tick(&store, ts("2026-12-05T10:01:00Z")).await.unwrap();
    let (fired, _) = tick(&store, ts("2026-12-05T10:05:00Z")).await.unwrap();
    assert_eq!(fired.len(), 2);
    // The first runs are still queued when the next slot comes.
    let (fired, _) = tick(&store, ts("2026-12-05T10:10:00Z")).await.unwrap();
    let outcome = |name: &str| fired.iter().find(|f| f.schedule == name).unwrap().outcome;
    assert_eq!(outcome("skipper"), FireOutcome::Skipped);
    assert_eq!(outcome("queuer"), FireOutcome::Queued);
    let statuses: Vec<(String, String)> = store
        .blocking(|c| {
            let mut stmt = c.prepare("SELECT schedule, status FROM runs ORDER BY seq")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .unwrap();
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        statuses,
        [
            s("queuer", "queued"),
            s("skipper", "queued"),
            s("queuer", "queued"),
            s("skipper", RunStatus::Skipped.as_str()),
        ]
    );
    // Once they end, the next slot fires again.
    finish_all(&store);
    let (fired, _) = tick(&store, ts("2026-12-05T10:15:00Z")).await.unwrap();
    assert!(fired.iter().all(|f| f.outcome == FireOutcome::Queued));
}

#[tokio::test]
async fn after_downtime_the_latest_slot_fires_only_within_the_catch_up_window() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        schedule("patient", "0 * * * *", "queue", 3 * 3600),
        schedule("strict", "0 * * * *", "queue", 0),
    ];
    let store = open(dir.path(), &rows);
    tick(&store, ts("2026-12-05T06:30:00Z")).await.unwrap();
    // Down from 06:30 to 10:20.
    let (fired, _) = tick(&store, ts("2026-12-05T10:20:00Z")).await.unwrap();
    let get = |name: &str| fired.iter().find(|f| f.schedule == name).unwrap();
    assert_eq!(get("patient").outcome, FireOutcome::Queued);
    assert_eq!(get("patient").slot, ts("2026-12-05T10:00:00Z"));
    assert_eq!(get("patient").missed, 3);
    assert_eq!(get("strict").outcome, FireOutcome::Missed);
    assert_eq!(get("strict").missed, 4);
    // Neither fires those slots again.
    let (fired, _) = tick(&store, ts("2026-12-05T10:21:00Z")).await.unwrap();
    assert!(fired.is_empty(), "{fired:?}");
    let runs: i64 = store
        .blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn a_disabled_schedule_does_not_fire() {
    let dir = tempfile::tempdir().unwrap();
    let mut row = schedule("off", "* * * * *", "queue", 0);
    row.enabled = false;
    let store = open(dir.path(), &[row]);
    tick(&store, ts("2026-12-05T10:00:30Z")).await.unwrap();
    let (fired, _) = tick(&store, ts("2026-12-05T10:05:00Z")).await.unwrap();
    assert!(fired.is_empty());
}

//! Schedules: which slots are due, and firing each exactly once.
//!
//! Each schedule keeps a cursor, the last slot it handled. On every tick
//! the next slot after the cursor is due once its (deterministic) jitter
//! has passed. A slot fires by inserting its `(schedule, slot)` row, the
//! cursor and its queued run in one transaction: the row's primary key is
//! what keeps a slot from firing twice, across restarts and across
//! instances sharing the database. After downtime only the latest missed
//! slot fires, and only when it is within the catch-up window; the others
//! are recorded as missed.
//!
//! Firing only when this instance leads ([`Leader`]) lets several
//! instances elect one: by a lease in NATS
//! ([`crate::cluster::LeaseLeader`]) with a `[queue]`; alone, the
//! instance always leads.

mod clock;
pub mod cron;

use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

pub use clock::{AcceleratedClock, Clock, SystemClock};
pub use cron::CronSchedule;

use crate::store::{FireOutcome, NewRun, ScheduleRow, Store};

/// What to do when a slot comes while the previous run still runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// The slot is recorded as skipped; nothing runs.
    #[default]
    Skip,
    /// The slot's run waits in the queue behind the previous one.
    Queue,
    /// The previous run is cancelled and the slot's run queued.
    Replace,
}

impl Overlap {
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Queue => "queue",
            Overlap::Replace => "replace",
        }
    }

    pub fn parse(text: &str) -> Option<Overlap> {
        match text {
            "skip" => Some(Overlap::Skip),
            "queue" => Some(Overlap::Queue),
            "replace" => Some(Overlap::Replace),
            _ => None,
        }
    }
}

/// Whether this instance may fire schedules now.
#[async_trait::async_trait]
pub trait Leader: Send + Sync {
    async fn is_leader(&self) -> bool;
}

/// One instance, always the leader.
pub struct AlwaysLeader;

#[async_trait::async_trait]
impl Leader for AlwaysLeader {
    async fn is_leader(&self) -> bool {
        true
    }
}

/// How late past its due time a slot may still fire when the schedule has
/// no catch-up window: a busy machine's tick, not downtime.
pub const LATE_ALLOWANCE: Duration = Duration::from_secs(60);

/// The slot's jitter: the same for every instance and every restart, so
/// all agree when a slot is due.
pub fn jitter(schedule: &str, slot: Timestamp, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{schedule}\n{slot}").as_bytes());
    let n = u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    Duration::from_millis(n % max.as_millis().max(1) as u64)
}

/// What the scheduler decided for one schedule on one tick.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet; look again at this time.
    Wait(Timestamp),
    /// Fire this slot; `missed` earlier slots are skipped over.
    Fire { slot: Timestamp, missed: u64 },
    /// The latest slot is past its catch-up window: record it as missed.
    Missed { slot: Timestamp, missed: u64 },
    /// No slot ever comes (an impossible date).
    Never,
}

/// Decides what is due for a schedule whose cursor is `cursor`.
pub fn due(
    name: &str,
    cron: &CronSchedule,
    cursor: Timestamp,
    now: Timestamp,
    catch_up: Duration,
    max_jitter: Duration,
) -> Due {
    let Some(first) = cron.next_after(cursor) else {
        return Due::Never;
    };
    let due_at = |slot: Timestamp| {
        slot.checked_add(jitter(name, slot, max_jitter))
            .unwrap_or(slot)
    };
    if due_at(first) > now {
        return Due::Wait(due_at(first));
    }
    // The latest slot that is due, counting the ones passed over.
    let mut slot = first;
    let mut missed = 0u64;
    while let Some(next) = cron.next_after(slot) {
        if due_at(next) > now || missed >= 1_000_000 {
            break;
        }
        slot = next;
        missed += 1;
    }
    let late = now.duration_since(due_at(slot));
    let allowed = catch_up.max(LATE_ALLOWANCE);
    if late.as_secs_f64() > allowed.as_secs_f64() {
        Due::Missed { slot, missed }
    } else {
        Due::Fire { slot, missed }
    }
}

/// Builds the run a slot queues; the caller hands it to [`Store`] and then
/// to the queue.
pub fn slot_run(schedule: &ScheduleRow, slot: Timestamp) -> NewRun {
    let inputs = crate::store::runs::input_pairs(&schedule.inputs);
    NewRun {
        id: uuid::Uuid::new_v4().to_string(),
        plugin: schedule.plugin.clone(),
        tenant: schedule.tenant.clone(),
        mode: "run".to_owned(),
        requested_by: format!("schedule:{}", schedule.name),
        schedule: Some(schedule.name.clone()),
        slot: Some(crate::store::time_text(slot)),
        inputs_shown: inputs,
        apply_of: None,
    }
}

/// The outcome of firing one slot, for the caller to act on.
#[derive(Debug)]
pub struct Fired {
    pub schedule: String,
    pub slot: Timestamp,
    pub outcome: FireOutcome,
    pub run: Option<NewRun>,
    /// Runs the slot replaces (overlap = replace): to cancel.
    pub replaces: Vec<String>,
    pub missed: u64,
}

/// Handles every due slot once; returns what fired and when to look again.
pub async fn tick(store: &Store, now: Timestamp) -> crate::store::Result<(Vec<Fired>, Timestamp)> {
    let schedules = store
        .call(|c| crate::store::schedules::list_schedules(c))
        .await?;
    let mut fired = Vec::new();
    let mut wake = now
        .checked_add(jiff::SignedDuration::from_secs(30))
        .unwrap_or(now);
    for schedule in schedules.into_iter().filter(|s| s.enabled) {
        let Ok(cron) = CronSchedule::parse(&schedule.cron, &schedule.time_zone) else {
            tracing::warn!(schedule = %schedule.name, "the schedule's cron expression no longer parses; it does not fire");
            continue;
        };
        let Some(cursor) = schedule
            .cursor
            .as_deref()
            .and_then(crate::store::parse_time)
        else {
            // First sight: slots from now on.
            let name = schedule.name.clone();
            let text = crate::store::time_text(now);
            store
                .call(move |c| crate::store::schedules::set_cursor(c, &name, &text))
                .await?;
            if let Some(next) = cron.next_after(now) {
                wake = wake.min(next);
            }
            continue;
        };
        let catch_up = Duration::from_secs(schedule.catch_up_secs.max(0) as u64);
        let jitter_max = Duration::from_secs(schedule.jitter_secs.max(0) as u64);
        match due(&schedule.name, &cron, cursor, now, catch_up, jitter_max) {
            Due::Never => {}
            Due::Wait(at) => wake = wake.min(at),
            Due::Missed { slot, missed } => {
                let name = schedule.name.clone();
                let text = crate::store::time_text(slot);
                let outcome = store
                    .call(move |c| {
                        crate::store::schedules::fire(c, &name, &text, FireOutcome::Missed, None)
                    })
                    .await?;
                fired.push(Fired {
                    schedule: schedule.name.clone(),
                    slot,
                    outcome,
                    run: None,
                    replaces: Vec::new(),
                    missed: missed + 1,
                });
                if let Some(next) = cron.next_after(slot) {
                    wake = wake.min(next);
                }
            }
            Due::Fire { slot, missed } => {
                let overlap = Overlap::parse(&schedule.overlap).unwrap_or_default();
                let run = slot_run(&schedule, slot);
                let name = schedule.name.clone();
                let text = crate::store::time_text(slot);
                let run_copy = run.clone();
                let (outcome, replaces) = store
                    .call(move |c| {
                        let active = crate::store::schedules::active_runs(c, &name)?;
                        let outcome = match overlap {
                            Overlap::Skip if !active.is_empty() => FireOutcome::Skipped,
                            _ => FireOutcome::Queued,
                        };
                        let replaces = if overlap == Overlap::Replace {
                            active
                        } else {
                            Vec::new()
                        };
                        let done = crate::store::schedules::fire(
                            c,
                            &name,
                            &text,
                            outcome,
                            Some(&run_copy),
                        )?;
                        Ok((done, replaces))
                    })
                    .await?;
                fired.push(Fired {
                    schedule: schedule.name.clone(),
                    slot,
                    outcome,
                    run: Some(run),
                    replaces,
                    missed,
                });
                if let Some(next) = cron.next_after(slot) {
                    wake = wake.min(next);
                }
            }
        }
    }
    Ok((fired, wake))
}

/// The schedules the config declares, as rows (their source `config`).
pub fn config_rows(config: &crate::config::ServeConfig) -> Vec<ScheduleRow> {
    config
        .schedules
        .iter()
        .map(|s| ScheduleRow {
            name: s.name.clone(),
            plugin: s.plugin.clone(),
            tenant: s.tenant.clone(),
            cron: s.cron.expression().to_owned(),
            time_zone: s.cron.zone().to_owned(),
            overlap: s.overlap.as_str().to_owned(),
            catch_up_secs: s.catch_up.as_secs() as i64,
            jitter_secs: s.jitter.as_secs() as i64,
            inputs: serde_json::Value::Object(
                s.inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
            enabled: s.enabled,
            source: "config".to_owned(),
            cursor: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_slot_is_due_once_its_time_has_come() {
        let cron = CronSchedule::parse("0 * * * *", "UTC").unwrap();
        assert_eq!(
            due(
                "s",
                &cron,
                ts("2026-12-05T09:00:00Z"),
                ts("2026-12-05T09:59:00Z"),
                Duration::ZERO,
                Duration::ZERO
            ),
            Due::Wait(ts("2026-12-05T10:00:00Z"))
        );
        assert_eq!(
            due(
                "s",
                &cron,
                ts("2026-12-05T09:00:00Z"),
                ts("2026-12-05T10:00:01Z"),
                Duration::ZERO,
                Duration::ZERO
            ),
            Due::Fire {
                slot: ts("2026-12-05T10:00:00Z"),
                missed: 0
            }
        );
    }

    #[test]
    fn after_downtime_only_the_latest_slot_fires_within_the_catch_up_window() {
        let cron = CronSchedule::parse("0 * * * *", "UTC").unwrap();
        let cursor = ts("2026-12-05T06:00:00Z");
        let now = ts("2026-12-05T10:20:00Z");
        assert_eq!(
            due(
                "s",
                &cron,
                cursor,
                now,
                Duration::from_secs(3600),
                Duration::ZERO
            ),
            Due::Fire {
                slot: ts("2026-12-05T10:00:00Z"),
                missed: 3
            }
        );
        assert_eq!(
            due("s", &cron, cursor, now, Duration::ZERO, Duration::ZERO),
            Due::Missed {
                slot: ts("2026-12-05T10:00:00Z"),
                missed: 3
            }
        );
    }

    #[test]
    fn jitter_is_the_same_on_every_instance_and_within_its_bound() {
        let slot = ts("2026-12-05T10:00:00Z");
        let a = jitter("nightly", slot, Duration::from_secs(300));
        assert_eq!(a, jitter("nightly", slot, Duration::from_secs(300)));
        assert!(a < Duration::from_secs(300));
        assert_ne!(a, jitter("hourly", slot, Duration::from_secs(300)));
    }
}

//! Watching a run for the history and the dashboard: its progress, call
//! counts, log lines and denials, written to the database every
//! [`FLUSH_EVERY`] (not per call, which would put a database write on each
//! cmdlet's path), and the writes whose outcome nobody learned when the run
//! was ended mid-call.

use std::sync::Arc;
use std::time::Duration;

use exorun_cmdlet::Call;
use exorun_sandbox::{CallRecord, Decision, LogLevel, LogLine, Observer};
use parking_lot::Mutex;

use crate::store::{Denial, LogRow, RunCounts, Store, now_text};

pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// A run's log lines kept in the history; later lines are counted, not kept.
pub const MAX_LOG_LINES: i64 = 10_000;
const MAX_LINE_BYTES: usize = 4096;

#[derive(Default)]
struct Seen {
    counts: RunCounts,
    logs: Vec<LogRow>,
    denials: Vec<Denial>,
    next_log: i64,
    next_denial: i64,
    /// Added to log and denial numbers: a second attempt of a run (on
    /// another worker) numbers its lines after the first's.
    base: i64,
    dropped_logs: u64,
    /// Writes sent (intent recorded) and writes whose outcome came back.
    intents: i64,
    outcomes: i64,
    dirty: bool,
}

pub struct RunWatch {
    run_id: String,
    seen: Mutex<Seen>,
}

impl RunWatch {
    pub fn new(run_id: &str) -> Arc<RunWatch> {
        Self::for_attempt(run_id, 1)
    }

    /// The watch of a run's `attempt`th delivery to a worker.
    pub fn for_attempt(run_id: &str, attempt: u32) -> Arc<RunWatch> {
        Arc::new(RunWatch {
            run_id: run_id.to_owned(),
            seen: Mutex::new(Seen {
                base: i64::from(attempt.saturating_sub(1)) * (MAX_LOG_LINES + 1000),
                ..Seen::default()
            }),
        })
    }

    /// What changed since it was last taken: the counts, and the log lines
    /// and denials not taken yet. `None` when nothing changed.
    pub fn take_changes(&self) -> Option<(RunCounts, Vec<LogRow>, Vec<Denial>)> {
        let mut seen = self.seen.lock();
        if !seen.dirty {
            return None;
        }
        seen.dirty = false;
        let mut counts = seen.counts.clone();
        counts.writes_unknown = (seen.intents - seen.outcomes).max(0);
        Some((
            counts,
            std::mem::take(&mut seen.logs),
            std::mem::take(&mut seen.denials),
        ))
    }

    /// Counts so far, with the writes whose outcome is unknown.
    pub fn counts(&self) -> RunCounts {
        let seen = self.seen.lock();
        let mut counts = seen.counts.clone();
        counts.writes_unknown = (seen.intents - seen.outcomes).max(0);
        counts
    }

    /// Writes what changed since the last flush.
    pub async fn flush(&self, store: &Store) -> crate::store::Result<()> {
        let Some((counts, logs, denials)) = self.take_changes() else {
            return Ok(());
        };
        let id = self.run_id.clone();
        store
            .call(move |c| crate::store::runs::record_progress(c, &id, &counts, &logs, &denials))
            .await
    }

    /// Flushes every [`FLUSH_EVERY`] until `done` resolves, then once more.
    pub async fn flush_until(
        self: Arc<Self>,
        store: Store,
        done: tokio::sync::oneshot::Receiver<()>,
    ) {
        tokio::pin!(done);
        loop {
            tokio::select! {
                _ = &mut done => break,
                () = tokio::time::sleep(FLUSH_EVERY) => {
                    if let Err(e) = self.flush(&store).await {
                        tracing::warn!(run_id = %self.run_id, error = %e, "cannot write the run's progress to the history");
                    }
                }
            }
        }
        if let Err(e) = self.flush(&store).await {
            tracing::warn!(run_id = %self.run_id, error = %e, "cannot write the run's progress to the history");
        }
    }

    fn push_log(&self, level: &str, line: &str) {
        let mut seen = self.seen.lock();
        if seen.next_log >= MAX_LOG_LINES {
            seen.dropped_logs += 1;
            return;
        }
        seen.next_log += 1;
        let seq = seen.base + seen.next_log;
        let mut line = line.to_owned();
        if line.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        seen.logs.push(LogRow {
            seq,
            time: now_text(),
            level: level.to_owned(),
            line,
        });
        seen.dirty = true;
    }

    /// A line of the service's own about the run (why it ended).
    pub fn note(&self, line: &str) {
        self.push_log("service", line);
    }
}

impl Observer for RunWatch {
    fn log(&self, line: &LogLine) {
        let level = match line.level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        self.push_log(level, &line.message);
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        let mut seen = self.seen.lock();
        seen.counts.progress_done = done.min(i64::MAX as u64) as i64;
        seen.counts.progress_total = total.map(|t| t.min(i64::MAX as u64) as i64);
        seen.dirty = true;
    }

    fn call(&self, record: &CallRecord) {
        let mut seen = self.seen.lock();
        seen.counts.calls += 1;
        match &record.decision {
            Decision::Denied { rule, message } => {
                seen.counts.denied += 1;
                seen.next_denial += 1;
                let seq = seen.base + seen.next_denial;
                if seen.next_denial <= 1000 {
                    seen.denials.push(Denial {
                        seq,
                        cmdlet: record.call.cmdlet.clone(),
                        rule: rule.clone(),
                        message: message.clone(),
                    });
                }
            }
            Decision::Allowed => {
                match &record.outcome {
                    Ok(n) => seen.counts.objects += (*n).min(i64::MAX as u64) as i64,
                    Err(_) => seen.counts.failed += 1,
                }
                if !record.call.is_read_only() {
                    seen.outcomes += 1;
                }
            }
        }
        seen.dirty = true;
    }

    fn before_write(&self, calls: &[&Call]) -> Result<(), String> {
        self.seen.lock().intents += calls.len() as i64;
        Ok(())
    }
}

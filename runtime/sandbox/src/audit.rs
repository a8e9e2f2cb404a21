//! The audit trail as an [`Observer`] of a run: one record when the run
//! starts, one *intent* record before each call that changes the tenant is
//! sent, one per cmdlet call (allowed or denied) as it ends, one when the
//! run ends, appended to the hash-chained log of `exorun-audit`.
//!
//! Durability, by what a lost record would cost:
//! * Writes: nothing that is not read-only is sent before its intent (run,
//!   cmdlet, parameters, time) is written and fsynced
//!   ([`Observer::before_write`]), together with any call records still
//!   waiting. If that fails the write is not sent and the run ends. A
//!   process killed at any moment therefore leaves every write it sent in
//!   the log, and `exorun audit verify` lists its run as unfinished with
//!   the writes whose outcome is unknown.
//! * Reads and outcomes: group-committed by a writer thread of the run (in
//!   batches of up to [`BATCH`] records, or every [`BATCH_AGE`], with one
//!   lock, one `write` and one head update per batch), so serializing,
//!   hashing and writing them is off the calling path. Appending each
//!   record on its own measured 30-45 µs and an fsync per call 0.2-4.5 ms,
//!   beyond the 5 % overhead budget for reads. A read record can never be
//!   too large to write: values are abbreviated. Should the writer fall
//!   behind by [`MAX_PENDING`] records, the caller writes them itself.
//! * The start record is written before the plugin runs but not fsynced
//!   on its own: the fsync of the run's first intent covers it (same file),
//!   and a run that sends no write has nothing more durable than its reads.
//!   The end record is fsynced after the last batch, so a run that has
//!   ended is on disk whole. (The start fsync cost 20 ms a run here, about
//!   0.7 % of 10,000 reads against the simulated tenant.)
//!
//! Fail closed: once any record cannot be written, [`Observer::blocked`]
//! refuses every further call of the run and the run ends.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use exorun_audit::{
    AuditError, AuditLog, CallEvent, Decision as AuditDecision, Durability, Entry, Event,
    RunEndEvent, RunInfo, RunMode,
};
use exorun_cmdlet::Call;
use exorun_policy::Capabilities;
use parking_lot::{Condvar, Mutex};

use crate::report::{CallRecord, Decision, Observer, RunReport};

/// Writes one run's records. Shared by the run's host calls; each append
/// takes the log's file lock, so other runs and processes can append to
/// the same log at the same time.
pub struct AuditObserver {
    shared: Arc<Shared>,
    capabilities: Capabilities,
    /// The writer thread, joined on drop.
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the run's calls and its writer thread share.
pub struct Shared {
    log: Mutex<AuditLog>,
    /// Call records not yet written.
    pending: Mutex<Vec<Event>>,
    /// Wakes the writer when a batch is full or the run ends.
    wake: Condvar,
    stop: AtomicBool,
    run: RunInfo,
    /// The first append that failed; from then on calls are refused.
    failure: Mutex<Option<String>>,
}

impl std::ops::Deref for AuditObserver {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AuditObserver {
    /// Opens the log at `path` and writes the run's start record (see the
    /// module's notes on durability). An error here means the run must not
    /// start.
    pub fn start(
        path: &Path,
        run: RunInfo,
        capabilities: &Capabilities,
    ) -> Result<AuditObserver, AuditError> {
        let mut log = AuditLog::open(path)?.with_durability(Durability::Flush);
        append(&mut log, &run, &Event::RunStart)?;
        let shared = Arc::new(Shared {
            log: Mutex::new(log),
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            run,
            failure: Mutex::new(None),
        });
        let worker = shared.clone();
        let writer = std::thread::Builder::new()
            .name("exorun-audit".to_owned())
            .spawn(move || {
                yield_to_the_run();
                worker.write_behind()
            })
            .map_err(|source| AuditError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(AuditObserver {
            shared,
            capabilities: capabilities.clone(),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run.run_id
    }

    pub fn run_info(&self) -> &RunInfo {
        &self.run
    }

    /// The first record that could not be written, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// Writes the run's end record from its report, and fsyncs the log.
    /// `plan_sha256` names the plan a what-if run wrote.
    pub fn finish(
        &self,
        report: &RunReport,
        outputs: Option<&Path>,
        plan_sha256: Option<&str>,
    ) -> Result<(), AuditError> {
        let denied = report.denials().count() as u64;
        let failed = report.failures().count() as u64;
        let mut end = match &report.outcome {
            Ok(_) => RunEndEvent::ok(),
            Err(e) => RunEndEvent::failed(e.kind(), &e.to_string()),
        }
        .counts(report.calls.len() as u64, denied, failed)
        .scope_lookups(report.scope_lookups)
        .duration(report.elapsed);
        if let Some(folder) = outputs {
            end = end.outputs(folder.display().to_string());
        }
        self.finish_with(end, plan_sha256)
    }

    /// Writes an end record made by the caller (`exorun apply`), and fsyncs.
    pub fn finish_with(
        &self,
        end: RunEndEvent,
        plan_sha256: Option<&str>,
    ) -> Result<(), AuditError> {
        let mut run = self.run.clone();
        if let Some(digest) = plan_sha256 {
            run.plan_sha256 = Some(digest.to_owned());
        }
        self.flush();
        let mut log = self.log.lock();
        append(&mut log, &run, &Event::RunEnd(end))?;
        log.sync()
    }

    /// Writes the pending call records now (see `Shared::flush`).
    pub fn flush(&self) {
        self.shared.flush();
    }

    /// Appends the intents of writes about to be sent, after every call
    /// record still waiting, and fsyncs: only then may they be sent.
    fn record_intents(&self, calls: &[&Call]) -> Result<(), AuditError> {
        let intents: Vec<Event> = calls
            .iter()
            .map(|call| {
                let sensitive = sensitive_parameters(&self.capabilities, call);
                Event::Intent(CallEvent::new(call, &sensitive))
            })
            .collect();
        // The log's lock first, then what is pending: records stay in the
        // order their calls ended, whoever writes them.
        let mut log = self.log.lock();
        let mut events = std::mem::take(&mut *self.pending.lock());
        events.extend(intents);
        match log.append_all(events.iter().map(|e| Entry::new(&self.run, e))) {
            Ok(_) => {}
            Err(AuditError::HeadNotUpdated { path, source, .. }) => {
                tracing::warn!(head = %path.display(), error = %source, "audit records written, but their head file lags");
            }
            Err(e) => return Err(e),
        }
        log.sync()
    }

    /// The audit event of one call, its sensitive values redacted.
    pub fn call_event(&self, record: &CallRecord) -> CallEvent {
        let sensitive = sensitive_parameters(&self.capabilities, &record.call);
        let mut event = CallEvent::new(&record.call, &sensitive).duration(record.elapsed);
        event = match &record.decision {
            Decision::Allowed => event.decision(AuditDecision::Allowed),
            Decision::Denied { rule, .. } => {
                event.decision(AuditDecision::Denied { rule: rule.clone() })
            }
        };
        // In a what-if run the backend captures every allowed call that
        // is not read-only instead of sending it (exorun-plan's capture):
        // its "success" is a plan entry, not a change.
        let planned = self.run.mode == RunMode::WhatIf
            && record.decision == Decision::Allowed
            && !record.call.is_read_only()
            && record.outcome.is_ok();
        event = if planned {
            event.planned()
        } else {
            event.outcome(record.outcome.as_ref().copied())
        };
        if let Some(id) = &record.client_request_id {
            event = event.client_request_id(id.clone());
        }
        event
    }
}

impl Shared {
    /// Writes the pending call records as one batch. A batch that cannot
    /// be written is retried record by record, so one bad record (say, one
    /// too large) costs only itself; any failure blocks further calls.
    pub fn flush(&self) {
        if self.pending.lock().is_empty() {
            return;
        }
        // The log's lock first, then what is pending (see record_intents).
        let mut log = self.log.lock();
        let events = std::mem::take(&mut *self.pending.lock());
        if events.is_empty() {
            return;
        }
        let batch = log.append_all(events.iter().map(|e| Entry::new(&self.run, e)));
        let failed = match batch {
            Ok(_) => None,
            Err(AuditError::HeadNotUpdated { path, source, .. }) => {
                tracing::warn!(head = %path.display(), error = %source, "audit records written, but their head file lags");
                None
            }
            Err(_) => events
                .iter()
                .filter_map(|e| append(&mut log, &self.run, e).err())
                .last(),
        };
        if let Some(e) = failed {
            tracing::error!(run_id = %self.run.run_id, error = %e, "cannot write the audit record of a call; refusing further calls of this run");
            self.failure.lock().get_or_insert_with(|| e.to_string());
        }
    }

    /// The writer thread: a batch when it is full, else every
    /// [`BATCH_AGE`], until the run's observer is dropped.
    fn write_behind(&self) {
        loop {
            {
                let mut pending = self.pending.lock();
                if !self.stop.load(Ordering::SeqCst) && pending.len() < BATCH {
                    self.wake.wait_for(&mut pending, BATCH_AGE);
                }
            }
            self.flush();
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
        }
    }
}

/// A run that ends without `finish` (an error on the host's side) still
/// leaves its call records in the log.
impl Drop for AuditObserver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(writer) = self.writer.lock().take() {
            let _ = writer.join();
        }
        self.shared.flush();
    }
}

impl Observer for AuditObserver {
    fn call(&self, record: &CallRecord) {
        let event = Event::Call(self.call_event(record));
        let waiting = {
            let mut pending = self.pending.lock();
            pending.push(event);
            pending.len()
        };
        if waiting >= MAX_PENDING {
            // The writer is behind: the run pays for its own records.
            self.flush();
        } else if waiting >= BATCH {
            self.wake.notify_one();
        }
    }

    fn blocked(&self) -> Option<String> {
        self.failure
            .lock()
            .as_ref()
            .map(|e| format!("the audit trail cannot record calls ({e}); no further call is made"))
    }

    fn before_write(&self, calls: &[&Call]) -> Result<(), String> {
        // A what-if run captures writes instead of sending them.
        if self.run.mode == RunMode::WhatIf {
            return Ok(());
        }
        if let Some(reason) = self.blocked() {
            return Err(reason);
        }
        self.record_intents(calls).map_err(|e| {
            tracing::error!(run_id = %self.run.run_id, error = %e, "cannot write the intent of a write to the audit trail; it is not sent and the run ends");
            let text = e.to_string();
            self.failure.lock().get_or_insert_with(|| text.clone());
            text
        })
    }
}

/// Most call records written in one batch.
pub const BATCH: usize = 256;

/// A call record waits at most about this long for its batch.
pub const BATCH_AGE: Duration = Duration::from_millis(50);

/// Records waiting beyond which the calling thread writes them itself.
pub const MAX_PENDING: usize = 4 * BATCH;

/// Appends one event. A record that is written but whose head file could
/// not be updated is in the log: that is a warning, not a lost record.
fn append(log: &mut AuditLog, run: &RunInfo, event: &Event) -> Result<(), AuditError> {
    match log.append(Entry::new(run, event)) {
        Ok(_) => Ok(()),
        Err(AuditError::HeadNotUpdated { path, source, .. }) => {
            tracing::warn!(head = %path.display(), error = %source, "audit record written, but its head file lags");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The parameters of this call that the manifest marks sensitive.
fn sensitive_parameters<'a>(capabilities: &'a Capabilities, call: &Call) -> Vec<&'a str> {
    capabilities
        .cmdlet(&call.cmdlet)
        .map(|rule| {
            rule.parameters
                .iter()
                .filter(|p| p.sensitive)
                .map(|p| p.name.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Lowers the writer thread's scheduling priority (nice 10) so that on a
/// busy machine a batch being written never delays the run's own threads:
/// a woken run thread preempts the writer at once instead of waiting out
/// its time slice. The writer still gets the idle time between calls, and
/// should it fall [`MAX_PENDING`] behind, the run writes its own records.
/// Measured with `cargo bench -p exorun-e2e --bench audit_overhead`.
fn yield_to_the_run() {
    // On Linux a thread id names the thread alone, so this lowers the
    // writer and not the run's own threads. A failure only leaves the
    // priority as it was.
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), WRITER_NICE)
    {
        tracing::debug!(%error, "the audit writer thread keeps its priority");
    }
}

/// The audit writer's nice value (Linux): lower priority than the run.
#[cfg(target_os = "linux")]
const WRITER_NICE: i32 = 10;

//! What a run tells the outside: its log lines, its call records as they
//! happen (to an [`Observer`]) and, at the end, its [`RunReport`].

use std::sync::Arc;
use std::time::Duration;

use exorun_cmdlet::{Call, CmdletError};

use crate::error::RunError;
use crate::outputs::OutputsReport;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    Log,
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub source: LogSource,
    pub message: String,
}

/// The policy decision on one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied { rule: String, message: String },
}

/// One cmdlet call of a run, allowed or not, and how it ended.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub call: Call,
    pub decision: Decision,
    /// Objects returned, or the error. For a paged read, the objects read so far.
    pub outcome: Result<u64, CmdletError>,
    /// For a paged read, from opening to the last page read.
    pub elapsed: Duration,
    /// The id the backend sent with the call (Exchange's `client-request-id`),
    /// when the call reached one.
    pub client_request_id: Option<String>,
}

impl CallRecord {
    /// A call refused before it was sent.
    pub fn refused(call: &Call, decision: Decision, error: CmdletError) -> CallRecord {
        CallRecord {
            call: call.clone(),
            decision,
            outcome: Err(error),
            elapsed: Duration::ZERO,
            client_request_id: None,
        }
    }
}

/// Watches a run as it happens (the CLI's progress bar, the audit trail).
/// Every method has a do-nothing default.
pub trait Observer: Send + Sync {
    fn log(&self, _line: &LogLine) {}
    fn progress(&self, _done: u64, _total: Option<u64>) {}
    /// One call, once it has ended: a paged read when its last page was
    /// read, it failed, the plugin dropped it or the run ended.
    fn call(&self, _record: &CallRecord) {}
    /// `Some(reason)` refuses every further cmdlet call of the run before
    /// it reaches the gate: an observer the operator relies on (the audit
    /// trail) can no longer record what calls do, so none may happen.
    fn blocked(&self) -> Option<String> {
        None
    }
    /// Called with the calls that change the tenant, after they were
    /// admitted and before any of them is sent. `Err(reason)` means the
    /// observer could not durably record their intent (the audit trail):
    /// none is sent and the run ends.
    fn before_write(&self, _calls: &[&Call]) -> Result<(), String> {
        Ok(())
    }
}

/// The observer of a run nobody watches.
pub(crate) struct NoObserver;
impl Observer for NoObserver {}

/// Several observers as one, told in order (the console and the audit
/// trail of one run). The first that is blocked blocks the run.
pub struct Observers(pub Vec<Arc<dyn Observer>>);

impl Observer for Observers {
    fn log(&self, line: &LogLine) {
        self.0.iter().for_each(|o| o.log(line));
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        self.0.iter().for_each(|o| o.progress(done, total));
    }

    fn call(&self, record: &CallRecord) {
        self.0.iter().for_each(|o| o.call(record));
    }

    fn blocked(&self) -> Option<String> {
        self.0.iter().find_map(|o| o.blocked())
    }

    fn before_write(&self, calls: &[&Call]) -> Result<(), String> {
        self.0.iter().try_for_each(|o| o.before_write(calls))
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunReport {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub outcome: Result<String, RunError>,
    pub log: Vec<LogLine>,
    pub calls: Vec<CallRecord>,
    pub progress: Option<(u64, Option<u64>)>,
    pub elapsed: Duration,
    /// The `[outputs]` folder and what the plugin left in it.
    pub outputs: Option<OutputsReport>,
    /// Reads the host made to enforce the plugin's object scope
    /// (`crate::scope`): not the plugin's calls, but charged to its
    /// `max-calls`.
    pub scope_lookups: u64,
}

impl RunReport {
    /// The calls the policy gate refused.
    pub fn denials(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls
            .iter()
            .filter(|c| matches!(c.decision, Decision::Denied { .. }))
    }

    /// The calls that were allowed but failed at the tenant.
    pub fn failures(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls
            .iter()
            .filter(|c| c.decision == Decision::Allowed && c.outcome.is_err())
    }
}

//! One run: a fresh store with its own limits, WASI context and log, the
//! plugin's `run` export called under a wall-clock deadline, and a report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exorun_cmdlet::{Backend, Call, CmdletError};
use exorun_policy::ResolvedInputs;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::admit::CallBudget;
use crate::capability::{self, Extensions, Setup};
use crate::engine::Sandbox;
use crate::error::RunError;
use crate::host::cmdlets::{AuditUnavailable, PolicyViolation};
use crate::host::stdio::{LogLimitExceeded, LogSink};
use crate::limits::{MemoryLimitExceeded, RunLimiter, TableLimitExceeded};
use crate::outputs::{OutputsLimitExceeded, OutputsReport};
use crate::plugin::{Plugin, PluginInner};

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

struct NoObserver;
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

/// What to run a plugin with.
pub struct RunRequest {
    pub backend: Arc<dyn Backend>,
    /// The inputs, typed against the manifest's `[inputs]` by the caller
    /// ([`ResolvedInputs::resolve`]), so they are parsed once.
    pub resolved: Option<ResolvedInputs>,
    /// `name=value` pairs, resolved here when [`RunRequest::resolved`] is
    /// not given (tests and small embedders).
    pub inputs: Vec<String>,
    pub observer: Option<Arc<dyn Observer>>,
    /// The fresh folder to make for a plugin that declares `[outputs]`
    /// (it must not exist); by default one under
    /// [`crate::SandboxConfig::outputs_root`]. Ignored for other plugins.
    pub outputs_dir: Option<PathBuf>,
    /// Tells the plugin (WIT `host.what-if`) that its writes are captured
    /// into a plan rather than sent. Capturing them is the backend's job
    /// (`exorun_plan::WhatIfBackend`); this only lets the plugin say so.
    pub what_if: bool,
}

impl RunRequest {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        RunRequest {
            backend,
            resolved: None,
            inputs: Vec::new(),
            observer: None,
            outputs_dir: None,
            what_if: false,
        }
    }

    /// Marks the run as a what-if run (see [`RunRequest::what_if`]).
    pub fn what_if(mut self, what_if: bool) -> Self {
        self.what_if = what_if;
        self
    }

    pub fn outputs_dir(mut self, folder: impl Into<PathBuf>) -> Self {
        self.outputs_dir = Some(folder.into());
        self
    }

    /// The run's inputs, already typed.
    pub fn inputs(mut self, inputs: ResolvedInputs) -> Self {
        self.resolved = Some(inputs);
        self
    }

    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.inputs.push(format!("{name}={value}"));
        self
    }

    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
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

/// The store's data: WASI state, limits, and the run's own context.
pub struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: RunLimiter,
    pub(crate) ctx: RunContext,
    /// State of the capabilities that keep their own ([`crate::capability`]).
    pub(crate) extensions: Extensions,
}

impl RunState {
    /// Asks every capability whether the run may go on
    /// ([`capability::HostCapability::tick`]): on every epoch tick and
    /// before every cmdlet call, since a plugin waiting on the host sees no
    /// ticks.
    pub(crate) fn check_capabilities(&mut self) -> wasmtime::Result<()> {
        capability::REGISTRY
            .iter()
            .try_for_each(|unit| unit.tick(self))
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// What the host imports need during a run.
pub(crate) struct RunContext {
    pub plugin: Arc<PluginInner>,
    pub backend: Arc<dyn Backend>,
    /// Calls attempted and refused against `[limits] max-calls` and the
    /// sandbox's `max_refusals`.
    pub budget: CallBudget,
    /// The most a single call (or batch) may return into the plugin: its
    /// whole memory allowance.
    pub result_byte_budget: u64,
    pub invoke_many_concurrency: usize,
    pub log: LogSink,
    pub observer: Arc<dyn Observer>,
    pub records: Vec<CallRecord>,
    /// Paged reads still open: recorded, not yet told to the observer.
    pub open_reads: Vec<usize>,
    pub progress: Option<(u64, Option<u64>)>,
    /// Whether this is a what-if run (WIT `host.what-if`).
    pub what_if: bool,
}

impl RunContext {
    pub fn plugin_name(&self) -> &str {
        &self.plugin.manifest.plugin.name
    }

    /// Stores a record of a call that has ended and tells the observer.
    /// Large values are kept abbreviated ([`Call::abbreviated`]): the
    /// report must not hold megabytes per call on a plugin's behalf.
    pub fn record(&mut self, mut record: CallRecord) {
        if let Some(short) = record.call.abbreviated() {
            record.call = short;
        }
        self.observer.call(&record);
        self.records.push(record);
    }

    /// Stores the record of a paged read that has just opened; the
    /// observer hears of it when it ends ([`RunContext::close_read`]).
    pub fn open_read(&mut self, mut record: CallRecord) -> usize {
        if let Some(short) = record.call.abbreviated() {
            record.call = short;
        }
        self.records.push(record);
        let index = self.records.len() - 1;
        self.open_reads.push(index);
        index
    }

    /// Updates a paged read's record as pages arrive.
    pub fn update_read(
        &mut self,
        index: usize,
        objects: u64,
        error: Option<&CmdletError>,
        elapsed: Duration,
    ) {
        if let Some(record) = self.records.get_mut(index) {
            record.outcome = match error {
                Some(e) => Err(e.clone()),
                None => Ok(objects),
            };
            record.elapsed = elapsed;
        }
    }

    /// A paged read has ended: tells the observer, once.
    pub fn close_read(&mut self, index: usize) {
        if let Some(position) = self.open_reads.iter().position(|&i| i == index) {
            self.open_reads.swap_remove(position);
            if let Some(record) = self.records.get(index) {
                self.observer.call(record);
            }
        }
    }

    /// At the end of a run: every paged read the plugin left open.
    pub(crate) fn close_all_reads(&mut self) {
        let mut open = std::mem::take(&mut self.open_reads);
        open.sort_unstable();
        for index in open {
            if let Some(record) = self.records.get(index) {
                self.observer.call(record);
            }
        }
    }
}

/// Raised by the epoch callback when the wall-clock deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

impl Sandbox {
    /// Runs a plugin once. Never panics and never fails the host: every way
    /// a run can end is in the report's `outcome`.
    pub async fn run(&self, plugin: &Plugin, mut request: RunRequest) -> RunReport {
        let started = Instant::now();
        let inner = plugin.inner.clone();
        let manifest = &inner.manifest;
        let mut report = RunReport {
            plugin: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            sha256: inner.sha256.clone(),
            outcome: Ok(String::new()),
            log: Vec::new(),
            calls: Vec::new(),
            progress: None,
            elapsed: Duration::ZERO,
            outputs: None,
        };
        let observer = request
            .observer
            .take()
            .unwrap_or_else(|| Arc::new(NoObserver));
        let config = self.config();
        let limits = manifest.limits();
        let memory_bytes = limits.memory_mib.saturating_mul(1 << 20);
        let log = LogSink::new(config.max_log_bytes, observer.clone());

        let mut wasi = WasiCtxBuilder::new();
        wasi.args(&[manifest.plugin.name.as_str()])
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let mut extensions = Extensions::default();
        let mut setup = Setup {
            manifest,
            request: &mut request,
            config,
            wasi: &mut wasi,
            log: &log,
            extensions: &mut extensions,
        };
        if let Err(e) = capability::REGISTRY
            .iter()
            .try_for_each(|unit| unit.prepare(&mut setup))
        {
            report.outcome = Err(e);
            return report;
        }
        let wasi = wasi.build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(config.max_resources);
        let state = RunState {
            wasi,
            table,
            limiter: RunLimiter::new(usize::try_from(memory_bytes).unwrap_or(usize::MAX), 100_000),
            ctx: RunContext {
                plugin: inner.clone(),
                backend: request.backend,
                budget: CallBudget::new(limits.max_calls, config.max_refusals),
                result_byte_budget: memory_bytes,
                invoke_many_concurrency: config.invoke_many_concurrency,
                log: log.clone(),
                observer,
                records: Vec::new(),
                open_reads: Vec::new(),
                progress: None,
                what_if: request.what_if,
            },
            extensions,
        };
        let mut store = Store::new(self.engine(), state);
        store.limiter_async(|state| &mut state.limiter);
        let deadline = started + limits.timeout;
        store.set_epoch_deadline(1);
        // Each tick either yields (so other runs on this thread progress) or,
        // past the deadline, stops the plugin.
        store.epoch_deadline_callback(move |mut store| {
            if Instant::now() >= deadline {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            store.data_mut().check_capabilities()?;
            Ok(UpdateDeadline::Yield(1))
        });

        let execution = async {
            let instance = inner
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (true, e))?;
            instance.call_run(&mut store).await.map_err(|e| (false, e))
        };
        // The epoch callback cannot fire while the plugin waits on a host
        // call, so the deadline is enforced here too.
        let outcome = match tokio::time::timeout(limits.timeout, execution).await {
            Err(_elapsed) => Err(RunError::Timeout {
                seconds: limits.timeout.as_secs(),
            }),
            Ok(Err((instantiating, e))) => Err(classify(e, instantiating, &limits)),
            Ok(Ok(Err(message))) => Err(RunError::Plugin(truncate(message, 64 * 1024))),
            Ok(Ok(Ok(output))) if output.len() as u64 > config.max_output_bytes => {
                Err(RunError::OutputTooLarge {
                    bytes: output.len() as u64,
                    limit: config.max_output_bytes,
                })
            }
            Ok(Ok(Ok(output))) => Ok(output),
        };
        report.outcome = outcome;
        let state = store.data_mut();
        for unit in capability::REGISTRY {
            unit.finish(state, &mut report);
        }
        report.elapsed = started.elapsed();
        tracing::info!(
            plugin = %report.plugin,
            sha256 = %report.sha256,
            calls = report.calls.len(),
            outcome = report.outcome.as_ref().err().map_or("ok", |e| e.kind()),
            elapsed_ms = report.elapsed.as_millis() as u64,
            "run finished"
        );
        report
    }
}

/// Maps a wasmtime error to the one [`RunError`] that explains it.
fn classify(
    error: wasmtime::Error,
    instantiating: bool,
    limits: &exorun_policy::Limits,
) -> RunError {
    if error.downcast_ref::<MemoryLimitExceeded>().is_some()
        || error.downcast_ref::<TableLimitExceeded>().is_some()
    {
        return RunError::MemoryLimit {
            mib: limits.memory_mib,
        };
    }
    if let Some(e) = error.downcast_ref::<OutputsLimitExceeded>() {
        return RunError::OutputsLimit(e.clone());
    }
    if let Some(e) = error.downcast_ref::<PolicyViolation>() {
        return RunError::PolicyViolation {
            refusals: e.refusals,
        };
    }
    if let Some(e) = error.downcast_ref::<AuditUnavailable>() {
        return RunError::Audit(e.0.clone());
    }
    if let Some(e) = error.downcast_ref::<LogLimitExceeded>() {
        return RunError::LogLimit { bytes: e.limit };
    }
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return RunError::Timeout {
            seconds: limits.timeout.as_secs(),
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>()
        && *trap == Trap::StackOverflow
    {
        return RunError::StackOverflow;
    }
    let message = format!("{error:#}");
    if instantiating {
        RunError::Instantiate(message)
    } else {
        RunError::Trap(truncate(message, 4096))
    }
}

/// A folder no other run of this process (or an earlier one) uses.
pub(crate) fn unique_folder(root: &std::path::Path, plugin: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    root.join(plugin).join(format!(
        "{nanos}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

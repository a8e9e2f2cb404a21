//! The store's data of one run: WASI state, limits, the context the host
//! imports need, and each capability's own state.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use exorun_cmdlet::{Backend, CmdletError};
use exorun_policy::Manifest;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::admit::CallBudget;
use crate::limits::RunLimiter;
use crate::report::{CallRecord, Observer};
use crate::run_log::LogSink;

/// The store's data: WASI state, limits, and the run's own context.
pub struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: RunLimiter,
    pub(crate) ctx: RunContext,
    /// State of the capabilities that keep their own ([`crate::capability`]).
    pub(crate) extensions: Extensions,
    /// Asks every capability whether the run may go on; set by the run
    /// to [`crate::capability::tick_all`].
    pub(crate) checkpoint: Checkpoint,
}

/// A check of the whole run's state that may stop it.
pub(crate) type Checkpoint = fn(&mut RunState) -> wasmtime::Result<()>;

impl RunState {
    /// Asks every capability whether the run may go on
    /// ([`capability::HostCapability::tick`]): on every epoch tick and
    /// before every cmdlet call, since a plugin waiting on the host sees no
    /// ticks.
    pub(crate) fn check_capabilities(&mut self) -> wasmtime::Result<()> {
        (self.checkpoint)(self)
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
    /// The manifest of the plugin that runs.
    pub manifest: Arc<Manifest>,
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
        &self.manifest.plugin.name
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

/// Per-run state that belongs to one capability, found by its type.
#[derive(Default)]
pub(crate) struct Extensions(Vec<Box<dyn Any + Send>>);

impl Extensions {
    pub fn insert<T: Any + Send>(&mut self, value: T) {
        self.0.retain(|v| !v.is::<T>());
        self.0.push(Box::new(value));
    }

    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.0.iter().find_map(|v| v.downcast_ref::<T>())
    }
}

//! The host half of each capability: the WIT interface it serves, the
//! state it adds to a run, and what it adds to the run's report.
//!
//! The manifest half (its table, ceilings and `exorun inspect` text) is in
//! [`exorun_policy::capability`]. Here each unit implements
//! [`HostCapability`] and is listed once in [`REGISTRY`]; the sandbox
//! links every unit's interfaces when it starts ([`link_all`]) and calls
//! every unit when a run starts, on every epoch tick, and when it ends.
//! `docs/adding-a-capability.md` walks through adding one.
//!
//! What is not a unit, and why: the memory limiter and the wall-clock
//! deadline of `[limits]` are the store's own (wasmtime has one limiter
//! and one epoch callback per store), so [`crate::run`] installs them.

mod cmdlets;
mod host;
mod inputs;
mod outputs;

use exorun_policy::Manifest;
use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;

use crate::config::SandboxConfig;
use crate::error::RunError;
use crate::report::RunReport;
use crate::request::RunRequest;
use crate::run_log::LogSink;
use crate::state::{Extensions, RunState};

/// The host side of one capability.
pub(crate) trait HostCapability: Sync {
    /// Adds the capability's WIT interfaces to the sandbox's linker, once
    /// per sandbox. WASI is linked before, so a unit may shadow part of it.
    fn link(&self, _linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
        Ok(())
    }

    /// Builds the capability's per-run state before the plugin starts.
    /// An error ends the run before it starts, with that error.
    fn prepare(&self, _setup: &mut Setup<'_>) -> Result<(), RunError> {
        Ok(())
    }

    /// On every epoch tick while the plugin runs; an error stops it.
    fn tick(&self, _state: &mut RunState) -> wasmtime::Result<()> {
        Ok(())
    }

    /// After the plugin has ended: what the capability adds to the report.
    /// It may turn a good outcome into a failure (a crossed cap).
    fn finish(&self, _state: &mut RunState, _report: &mut RunReport) {}
}

/// Every host capability. Order matters only for `finish`: the first unit
/// that turns an outcome into a failure names the failure.
pub(crate) static REGISTRY: &[&dyn HostCapability] = &[
    &cmdlets::CmdletsHost,
    &host::HostInterface,
    &inputs::InputsHost,
    &outputs::OutputsHost,
];

/// Asks every unit whether the run may go on ([`HostCapability::tick`]).
pub(crate) fn tick_all(state: &mut RunState) -> wasmtime::Result<()> {
    REGISTRY.iter().try_for_each(|unit| unit.tick(state))
}

/// Links every unit's interfaces.
pub(crate) fn link_all(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    REGISTRY.iter().try_for_each(|unit| unit.link(linker))
}

/// What a unit may read and add to when a run starts.
pub(crate) struct Setup<'a> {
    pub manifest: &'a Manifest,
    pub request: &'a mut RunRequest,
    pub config: &'a SandboxConfig,
    pub wasi: &'a mut WasiCtxBuilder,
    /// The run's log (the plugin's stdout and stderr go there too).
    pub log: &'a LogSink,
    pub extensions: &'a mut Extensions,
}

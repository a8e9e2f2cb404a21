//! The sandbox: runs one automation as a WebAssembly component with nothing
//! but the imports of the `exorun:automation` world.
//!
//! The path of a call: the plugin calls `cmdlets.invoke` → `host::cmdlets`
//! checks it with [`exorun_policy::check`] and the run's call budget → the
//! [`exorun_cmdlet::Backend`] carries it to the tenant. WASI 0.2 is linked so
//! that language runtimes can start, but with no preopened folder, no
//! network, no environment and a size-capped stdout.
//!
//! Units, each with one job and no cycles between them (the store's data in
//! `state` and the report types sit below everything that uses them):
//! - `run`: one run, from a fresh store to a [`RunReport`];
//! - `engine`: the wasmtime engine (pooling allocator, epochs) and its ticker;
//! - `config`: the operator's [`SandboxConfig`];
//! - `plugin`: loading a manifest's component (digest check, import check,
//!   `InstancePre`);
//! - `cache`: compiled components on disk, so only a plugin's first run
//!   compiles;
//! - `capability`: the host half of each capability (its WIT interface,
//!   per-run state and report), one unit each, linked and run in turn;
//! - `host`: the host side of the WIT imports;
//! - `admit`: the decision on one call (budget, refusals, gate), apart
//!   from wasmtime so it is tested without a guest;
//! - `state`: the store's data of one run (the context the host imports
//!   need and each capability's own state);
//! - `run_log`: the size-capped run log with the plugin's stdout and stderr;
//! - `request` and `report`: what a caller asks of a run and what it gets;
//! - `limits`: memory and table limits of one run;
//! - `outputs`: the `[outputs]` capability, a size-capped folder;
//! - `audit`: the audit trail as an [`Observer`] of runs.

// The one place that needs `unsafe` is loading precompiled code from the
// compile cache (cache.rs), allowed there statement by statement.
#![deny(unsafe_code)]

mod admit;
mod audit;
mod bindings;
mod cache;
mod cancel;
mod capability;
mod config;
mod engine;
mod error;
mod host;
mod limits;
mod outputs;
mod pages;
mod plugin;
mod rate;
mod report;
mod request;
mod run;
mod run_log;
mod scope;
mod state;

pub use audit::AuditObserver;
pub use cache::{CacheConfig, CacheOutcome, CompileCache};
pub use cancel::CancelRun;
pub use config::SandboxConfig;
pub use engine::Sandbox;
pub use error::{LoadError, RunError};
pub use outputs::{OutputFile, OutputKind, OutputsLimitExceeded, OutputsReport};
pub use plugin::Plugin;
pub use report::{
    CallRecord, Decision, LogLevel, LogLine, LogSource, Observer, Observers, RunReport,
};
pub use request::RunRequest;
pub use scope::{Scoped, ScopedBackend, scoped};

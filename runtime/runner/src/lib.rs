//! One run as a library, so the CLI and the automation service start runs
//! the same way and neither has to copy the steps between "the operator
//! asked for a run" and "the run is in the audit trail".
//!
//! - [`run`]: a plugin against a [`Target`] with typed inputs, as a plain
//!   run or a what-if run that writes a plan. The run's start record is
//!   written before the plugin starts, its end record after the plan (which
//!   it names), and the plan file is reserved before anything runs.
//! - applying a plan: checks a reviewed plan against the plugin the operator
//!   names ([`check_apply`]), then sends exactly its calls
//!   ([`CheckedApply::send`]). Between the two the caller asks for
//!   confirmation (the CLI's prompt, the service's second approver).
//!
//! Presentation (progress bars, summaries, exit codes) stays with the
//! caller, which watches through [`exorun_sandbox::Observer`]s.

#![forbid(unsafe_code)]

mod apply;
mod run;
mod target;

pub use apply::{Applied, ApplyError, ApplyJob, CheckedApply, applied_before, check_apply};
pub use run::{Finished, Identity, Mode, RunJob, StartError, WrittenPlan, run};
pub use target::Target;

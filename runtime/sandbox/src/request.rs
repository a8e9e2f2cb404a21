//! What a caller asks of one run: the tenant to call, the inputs, who
//! watches, where outputs go and whether it is a what-if run.

use std::path::PathBuf;
use std::sync::Arc;

use exorun_cmdlet::Backend;
use exorun_policy::ResolvedInputs;

use crate::report::Observer;

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
    /// Lets the caller end the run early ([`crate::CancelRun`]); the run
    /// then ends in [`crate::RunError::Cancelled`].
    pub cancel: Option<crate::CancelRun>,
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
            cancel: None,
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

    /// Ends the run when `cancel` is cancelled.
    pub fn cancel(mut self, cancel: crate::CancelRun) -> Self {
        self.cancel = Some(cancel);
        self
    }

    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }
}

//! Why a plugin could not be loaded, or why its run ended without output.

use std::path::PathBuf;

use exorun_policy::{LimitError, ManifestError};

/// A plugin that cannot be loaded. Nothing of it has run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("cannot read the component {}: {source}; run `exorun build` on the plugin folder", path.display())]
    ReadComponent {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} has no sha256 in its manifest, so its component cannot be verified; run `exorun build` to record it",
        manifest.display()
    )]
    Unpinned { manifest: PathBuf },
    #[error(
        "the component {} has sha256 {actual}, but the manifest pins {expected}; refusing to run a component that is not the one reviewed (rebuild with `exorun build`, or review the change)",
        path.display()
    )]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{} is not a valid WebAssembly component: {message}", path.display())]
    Compile { path: PathBuf, message: String },
    #[error(
        "the plugin imports `{import}`, which exorun does not provide; a plugin may import only exorun:automation and the WASI 0.2 CLI interfaces (never wasi:http)"
    )]
    UnsupportedImport { import: String },
    #[error("the plugin cannot be linked: {message}")]
    Link { message: String },
    #[error(transparent)]
    Limits(#[from] LimitError),
}

/// How a run ended without output. Every hostile behaviour maps to exactly
/// one of these, and none of them affects the host or other runs.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The plugin returned `err(message)` from `run`.
    #[error("the plugin failed: {0}")]
    Plugin(String),
    #[error("the run exceeded its time limit of {seconds} s ([limits] timeout-seconds)")]
    Timeout { seconds: u64 },
    #[error("the plugin tried to use more than its {mib} MiB of memory ([limits] memory-mib)")]
    MemoryLimit { mib: u64 },
    #[error("the plugin exhausted its call stack (unbounded recursion?)")]
    StackOverflow,
    #[error("the plugin wrote more than {bytes} bytes of log (stdout, stderr and log calls)")]
    LogLimit { bytes: u64 },
    #[error("the plugin returned {bytes} bytes of output, above the {limit}-byte cap")]
    OutputTooLarge { bytes: u64, limit: u64 },
    #[error("the plugin could not be started: {0}")]
    Instantiate(String),
    /// The plugin trapped (a Rust panic, an `unreachable`, a bad memory access…).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The inputs given do not match the manifest.
    #[error("{0}")]
    Inputs(String),
    /// The `[outputs]` folder went over its cap.
    #[error(transparent)]
    OutputsLimit(#[from] crate::outputs::OutputsLimitExceeded),
    /// The plugin kept calling after its calls were refused.
    #[error(
        "the plugin kept calling after {refusals} of its calls were refused (denied by the manifest or the operator policy, or over [limits] max-calls); the run was ended"
    )]
    PolicyViolation { refusals: u64 },
    /// The audit trail could not record a call; the run was ended.
    #[error("{0}")]
    Audit(String),
    /// The `[outputs]` folder could not be made.
    #[error("cannot create the outputs folder: {0}")]
    Outputs(String),
    /// Ended from outside ([`crate::CancelRun`]): an operator's cancel or
    /// a service shutting down.
    #[error("the run was cancelled: {reason}")]
    Cancelled { reason: String },
}

impl RunError {
    /// A stable, kebab-case name for scripts, tests and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Plugin(_) => "plugin-error",
            RunError::Timeout { .. } => "timeout",
            RunError::MemoryLimit { .. } => "memory-limit",
            RunError::StackOverflow => "stack-overflow",
            RunError::LogLimit { .. } => "log-limit",
            RunError::OutputTooLarge { .. } => "output-too-large",
            RunError::Instantiate(_) => "instantiate",
            RunError::Trap(_) => "trap",
            RunError::Inputs(_) => "inputs",
            RunError::OutputsLimit(_) => "outputs-limit",
            RunError::Outputs(_) => "outputs",
            RunError::PolicyViolation { .. } => "policy-violation",
            RunError::Audit(_) => "audit-unavailable",
            RunError::Cancelled { .. } => "cancelled",
        }
    }
}

//! The operator's settings for a sandbox: ceilings on what a manifest may
//! ask, and the host's own per-run caps.

use exorun_policy::Ceilings;

use crate::cache::CacheConfig;

/// Host-side settings, chosen by the operator, never by a plugin.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// What any plugin may ask for in `[limits]`.
    pub ceilings: Ceilings,
    /// Runs that may be alive at once (sizes the instance pool).
    pub max_concurrent_runs: u32,
    /// Bytes of log (stdout + stderr + log calls) one run may write.
    pub max_log_bytes: u64,
    /// Bytes of output `run` may return.
    pub max_output_bytes: u64,
    /// Host resources (open page readers, WASI streams) one run may hold.
    pub max_resources: usize,
    /// Concurrency of one `invoke-many` batch.
    pub invoke_many_concurrency: usize,
    /// Refused calls (denied by the gate, or over `max-calls`) after
    /// which a plugin's next call ends its run with `policy-violation`.
    pub max_refusals: u64,
    /// Use the pooling allocator when the system has the address space for
    /// it; falls back to on-demand allocation otherwise.
    pub pooling: bool,
    /// Keep compiled components on disk here. `None` compiles every load
    /// (libraries and tests stay free of side effects by default; the CLI
    /// turns it on).
    pub compile_cache: Option<CacheConfig>,
    /// Where a run's `[outputs]` folder is made when the request names none
    /// (`<root>/<plugin>/<unique>`).
    pub outputs_root: std::path::PathBuf,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            ceilings: Ceilings::default(),
            max_concurrent_runs: 1000,
            max_log_bytes: 1 << 20,
            max_output_bytes: 16 << 20,
            max_resources: 1000,
            invoke_many_concurrency: 16,
            max_refusals: 100,
            pooling: true,
            compile_cache: None,
            outputs_root: std::env::temp_dir().join("exorun-outputs"),
        }
    }
}

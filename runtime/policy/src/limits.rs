//! Per-run resource limits: what a plugin asks for in `[limits]`, and the
//! ceilings the operator allows.

use std::time::Duration;

/// The limits of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, summed over the component's memories.
    pub memory_mib: u64,
    /// Wall-clock time for the whole run, cmdlet calls included.
    pub timeout: Duration,
    /// Cmdlet calls (each call inside `invoke-many` counts).
    pub max_calls: u64,
    /// Requests per second this run may send at most (`None`: as fast as
    /// the tenant's budget and its fair share allow).
    pub calls_per_second: Option<u64>,
    /// The run's share of its tenant's budget while runs compete for it,
    /// relative to other runs (1 unless the operator policy says more).
    /// Not a manifest key: a plugin author does not pick their own
    /// priority.
    pub weight: u32,
}

impl Default for Limits {
    /// Safe defaults for a plugin that declares nothing: enough for a
    /// Python interpreter and a large report, small enough that a runaway
    /// plugin cannot hurt the host.
    fn default() -> Self {
        Limits {
            memory_mib: 128,
            timeout: Duration::from_secs(300),
            max_calls: 10_000,
            calls_per_second: None,
            weight: 1,
        }
    }
}

/// What the operator allows any plugin to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceilings {
    pub memory_mib: u64,
    pub timeout: Duration,
    pub max_calls: u64,
    /// The largest `[outputs] max-mib` a plugin may ask for.
    pub outputs_mib: u64,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            memory_mib: 1024,
            timeout: Duration::from_secs(3600),
            max_calls: 1_000_000,
            outputs_mib: 256,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the plugin asks for {asked} {what}, above the operator's ceiling of {ceiling}; lower [{table}] {key} in exorun.toml or raise the ceiling with {flag}"
)]
pub struct LimitError {
    pub what: &'static str,
    /// The manifest table the key is in.
    pub table: &'static str,
    pub key: &'static str,
    pub flag: &'static str,
    pub asked: u64,
    pub ceiling: u64,
}

impl Limits {
    /// Refuses, rather than silently clamps, a plugin that asks for more than
    /// the operator allows: a clamped plugin would fail later, confusingly.
    pub fn within(&self, ceilings: &Ceilings) -> Result<(), LimitError> {
        if self.memory_mib > ceilings.memory_mib {
            return Err(LimitError {
                what: "MiB of memory",
                table: "limits",
                key: "memory-mib",
                flag: "--max-memory-mib",
                asked: self.memory_mib,
                ceiling: ceilings.memory_mib,
            });
        }
        if self.timeout > ceilings.timeout {
            return Err(LimitError {
                what: "seconds of run time",
                table: "limits",
                key: "timeout-seconds",
                flag: "--max-timeout-seconds",
                asked: self.timeout.as_secs(),
                ceiling: ceilings.timeout.as_secs(),
            });
        }
        if self.max_calls > ceilings.max_calls {
            return Err(LimitError {
                what: "cmdlet calls",
                table: "limits",
                key: "max-calls",
                flag: "--max-calls",
                asked: self.max_calls,
                ceiling: ceilings.max_calls,
            });
        }
        Ok(())
    }
}

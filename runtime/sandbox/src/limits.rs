//! Memory and table limits of one run.
//!
//! Growth past the limit traps with a typed error instead of failing the
//! `memory.grow`: guests react to a failed grow in language-specific ways
//! (abort, MemoryError, silent retry), while the operator needs one clear,
//! stable outcome.

use wasmtime::ResourceLimiterAsync;

/// Raised (as a trap) when a memory would grow past the run's limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (asked for {desired})")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub desired: usize,
}

/// Raised when a table would grow past its element cap.
#[derive(Debug, thiserror::Error)]
#[error("table limit of {limit} elements exceeded")]
pub struct TableLimitExceeded {
    pub limit: usize,
}

/// Limits all linear memories of a run together, so a component with several
/// memories cannot multiply its allowance.
pub struct RunLimiter {
    memory_limit: usize,
    table_elements: usize,
    /// Bytes currently committed across memories.
    memory_used: usize,
}

impl RunLimiter {
    pub fn new(memory_limit: usize, table_elements: usize) -> Self {
        RunLimiter {
            memory_limit,
            table_elements,
            memory_used: 0,
        }
    }
}

#[async_trait::async_trait]
impl ResourceLimiterAsync for RunLimiter {
    async fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.memory_limit,
                desired: total,
            }));
        }
        self.memory_used = total;
        Ok(true)
    }

    async fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(TableLimitExceeded {
                limit: self.table_elements,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        // Python and JavaScript components hold a few dozen core instances.
        200
    }

    fn tables(&self) -> usize {
        200
    }

    fn memories(&self) -> usize {
        32
    }
}

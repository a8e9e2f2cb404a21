//! The tenant as an `exorun_cmdlet::Backend`, in process: no HTTP, same
//! answers. Used by the sandbox's tests and the demo.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, Object, PageStream};

use crate::execution::Execution;
use crate::rbac::Caller;
use crate::tenant::Tenant;

/// The largest page the real service serves (`odata.maxpagesize` ≤ 1000).
const DEFAULT_PAGE_SIZE: usize = 1000;

pub struct InProcessBackend {
    tenant: Arc<Tenant>,
    caller: Caller,
    page_size: usize,
    calls: AtomicU64,
}

impl InProcessBackend {
    pub fn new(tenant: Arc<Tenant>, caller: Caller) -> Self {
        InProcessBackend {
            tenant,
            caller,
            page_size: DEFAULT_PAGE_SIZE,
            calls: AtomicU64::new(0),
        }
    }

    /// Pages of `n` objects (at least one), to exercise paging in tests.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// How many calls reached the tenant (one per `open_pages`/`invoke`).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }
}

#[async_trait]
impl Backend for InProcessBackend {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let execution = self
            .tenant
            .execute(&self.caller, call)
            .map_err(|e| e.to_cmdlet_error())?;
        Ok(Box::new(Pages {
            execution,
            offset: 0,
            page_size: self.page_size,
            first: true,
        }))
    }
}

/// Renders one page per `next_page`, straight from the snapshot.
struct Pages {
    execution: Execution,
    offset: usize,
    page_size: usize,
    first: bool,
}

#[async_trait]
impl PageStream for Pages {
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        // An empty result is still one (empty) page, as `value: []` is.
        if self.offset >= self.execution.len() && !(self.first && self.execution.is_empty()) {
            return Ok(None);
        }
        self.first = false;
        let page = self.execution.page(self.offset, self.page_size);
        self.offset += page.len();
        let objects = page
            .iter()
            .map(|object| {
                serde_json::to_string(object)
                    .map_err(|e| CmdletError::failed("Serialization", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(objects))
    }
}

//! The what-if backend: a [`Backend`] in front of the real one that lets
//! reads through and captures everything else.
//!
//! It sits behind the policy gate, so only allowed calls reach it, and it
//! decides by the cmdlet's verb ([`exorun_cmdlet::is_read_only`]: `Get-`,
//! `Test-`, `Search-`), the same split the manifest and the audit trail use.
//! Calls are captured in the order the host issues them; within one
//! `invoke-many` batch that is the batch's order (the host starts the
//! batch's calls in order, and a captured call completes at once).

use std::sync::Arc;

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, Object, PageStream};
use parking_lot::Mutex;

/// Sends reads, captures writes.
pub struct WhatIfBackend {
    inner: Arc<dyn Backend>,
    captured: Mutex<Vec<Call>>,
}

impl WhatIfBackend {
    pub fn new(inner: Arc<dyn Backend>) -> WhatIfBackend {
        WhatIfBackend {
            inner,
            captured: Mutex::new(Vec::new()),
        }
    }

    /// The calls captured so far, in order.
    pub fn captured(&self) -> Vec<Call> {
        self.captured.lock().clone()
    }
}

/// The simulated success of a captured call: no objects.
struct Simulated;

#[async_trait]
impl PageStream for Simulated {
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        Ok(None)
    }
}

#[async_trait]
impl Backend for WhatIfBackend {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        if call.is_read_only() {
            return self.inner.open_pages(call).await;
        }
        self.captured.lock().push(call.clone());
        Ok(Box::new(Simulated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Counting(AtomicU64);

    struct One(Option<Vec<Object>>);

    #[async_trait]
    impl PageStream for One {
        async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
            Ok(self.0.take())
        }
    }

    #[async_trait]
    impl Backend for Counting {
        async fn open_pages(&self, _call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(One(Some(vec!["{}".to_owned()]))))
        }
    }

    #[tokio::test]
    async fn reads_reach_the_tenant_and_writes_are_captured_in_order_with_no_objects() {
        let inner = Arc::new(Counting::default());
        let what_if = WhatIfBackend::new(inner.clone());
        let read = Call::new("Get-Mailbox").param("Identity", "ann");
        let first = Call::new("Set-Mailbox").param("Identity", "ann");
        let second = Call::new("Remove-InboxRule").param("Identity", "ann\\1");
        assert_eq!(what_if.invoke(&read).await.unwrap(), vec!["{}".to_owned()]);
        assert_eq!(what_if.invoke(&first).await.unwrap(), Vec::<Object>::new());
        assert_eq!(what_if.invoke(&second).await.unwrap(), Vec::<Object>::new());
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);
        assert_eq!(what_if.captured(), vec![first, second]);
    }
}

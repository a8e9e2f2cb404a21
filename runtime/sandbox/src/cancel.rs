//! Ending a run from outside: an operator's cancel, or a service shutting
//! down after its grace period. The run stops at the plugin's next epoch
//! tick or, while it waits on a host call, at once (the call's future is
//! dropped, so a write already on the wire has an outcome nobody learns:
//! its intent is in the audit trail without an outcome).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// A handle shared by whoever may cancel a run and the run itself. Cheap to
/// clone; the first reason given wins.
#[derive(Clone, Debug, Default)]
pub struct CancelRun {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    reason: Mutex<Option<String>>,
    notify: Notify,
}

impl CancelRun {
    pub fn new() -> Self {
        CancelRun::default()
    }

    /// Ends the run, naming why (`cancelled by alice`). Later calls keep
    /// the first reason.
    pub fn cancel(&self, reason: impl Into<String>) {
        {
            let mut slot = self.inner.reason.lock();
            if slot.is_none() {
                *slot = Some(reason.into());
            }
        }
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Why the run was cancelled, once it was.
    pub fn reason(&self) -> Option<String> {
        self.inner.reason.lock().clone()
    }

    /// Resolves once [`CancelRun::cancel`] was called (at once if it was
    /// already).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_waiters_wake() {
        let cancel = CancelRun::new();
        let waiter = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        cancel.cancel("cancelled by alice");
        cancel.cancel("the service shut down");
        waiter.await.unwrap();
        assert!(cancel.is_cancelled());
        assert_eq!(cancel.reason().as_deref(), Some("cancelled by alice"));
        // Already cancelled: resolves at once.
        cancel.cancelled().await;
    }
}

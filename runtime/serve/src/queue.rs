//! The queue of runs waiting to start, with the service's concurrency
//! limits: runs at once overall, per tenant and per plugin. A run that
//! does not fit waits while later runs that fit go ahead, so one busy
//! tenant does not hold up the others.
//!
//! The history database holds every queued run durably (status `queued`);
//! this is the order and the limits in front of it. With a `[queue]`, plain
//! runs and applies go to workers through NATS JetStream instead
//! ([`crate::cluster`]), where each tenant's consumer holds its limit; this
//! queue keeps the runs the service runs itself.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// A run ready to be started.
#[derive(Clone, Debug)]
pub struct QueuedRun {
    pub id: String,
    pub plugin: String,
    pub tenant: String,
    pub kind: RunKind,
    pub requested_by: String,
    /// `name=value`, the values themselves (sensitive ones included); never
    /// written to the history.
    pub inputs: Vec<(String, String)>,
    pub schedule: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunKind {
    Run,
    WhatIf,
    /// Applies the approved plan with this SHA-256.
    Apply {
        plan: String,
        approved_by: String,
    },
}

impl RunKind {
    pub fn mode(&self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::WhatIf => "what-if",
            RunKind::Apply { .. } => "apply",
        }
    }
}

/// Limits a run must fit to start.
pub trait Limits: Send + Sync {
    fn total(&self) -> u32;
    fn per_tenant(&self, tenant: &str) -> u32;
    fn per_plugin(&self, plugin: &str) -> u32;
}

/// Where runs wait.
#[async_trait::async_trait]
pub trait RunQueue: Send + Sync {
    fn push(&self, run: QueuedRun);
    /// The oldest run that fits the limits, once there is one; its place
    /// is held until [`RunQueue::done`].
    async fn next(&self) -> QueuedRun;
    fn done(&self, run: &QueuedRun);
    /// Takes a run out before it started; `false` when it was not waiting.
    fn remove(&self, id: &str) -> bool;
    fn waiting(&self) -> usize;
    /// Runs started and not yet done, by tenant.
    fn running_by_tenant(&self) -> HashMap<String, u32>;
}

/// The in-process queue.
pub struct LocalQueue {
    limits: Arc<dyn Limits>,
    state: Mutex<State>,
    notify: Notify,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<QueuedRun>,
    total: u32,
    by_tenant: HashMap<String, u32>,
    by_plugin: HashMap<String, u32>,
}

impl LocalQueue {
    pub fn new(limits: Arc<dyn Limits>) -> Self {
        LocalQueue {
            limits,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        }
    }

    fn take_fitting(&self) -> Option<QueuedRun> {
        let mut state = self.state.lock();
        if state.total >= self.limits.total() {
            return None;
        }
        let position = state.waiting.iter().position(|run| {
            state.by_tenant.get(&run.tenant).copied().unwrap_or(0)
                < self.limits.per_tenant(&run.tenant)
                && state.by_plugin.get(&run.plugin).copied().unwrap_or(0)
                    < self.limits.per_plugin(&run.plugin)
        })?;
        let run = state.waiting.remove(position)?;
        state.total += 1;
        *state.by_tenant.entry(run.tenant.clone()).or_default() += 1;
        *state.by_plugin.entry(run.plugin.clone()).or_default() += 1;
        Some(run)
    }
}

#[async_trait::async_trait]
impl RunQueue for LocalQueue {
    fn push(&self, run: QueuedRun) {
        self.state.lock().waiting.push_back(run);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    async fn next(&self) -> QueuedRun {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(run) = self.take_fitting() {
                return run;
            }
            notified.await;
        }
    }

    fn done(&self, run: &QueuedRun) {
        {
            let mut state = self.state.lock();
            state.total = state.total.saturating_sub(1);
            if let Some(n) = state.by_tenant.get_mut(&run.tenant) {
                *n = n.saturating_sub(1);
            }
            if let Some(n) = state.by_plugin.get_mut(&run.plugin) {
                *n = n.saturating_sub(1);
            }
        }
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    fn remove(&self, id: &str) -> bool {
        let mut state = self.state.lock();
        let before = state.waiting.len();
        state.waiting.retain(|r| r.id != id);
        state.waiting.len() != before
    }

    fn waiting(&self) -> usize {
        self.state.lock().waiting.len()
    }

    fn running_by_tenant(&self) -> HashMap<String, u32> {
        self.state.lock().by_tenant.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u32, u32, u32);
    impl Limits for Fixed {
        fn total(&self) -> u32 {
            self.0
        }
        fn per_tenant(&self, _: &str) -> u32 {
            self.1
        }
        fn per_plugin(&self, _: &str) -> u32 {
            self.2
        }
    }

    fn run(id: &str, tenant: &str, plugin: &str) -> QueuedRun {
        QueuedRun {
            id: id.into(),
            plugin: plugin.into(),
            tenant: tenant.into(),
            kind: RunKind::Run,
            requested_by: "user:alice".into(),
            inputs: Vec::new(),
            schedule: None,
        }
    }

    #[tokio::test]
    async fn a_busy_tenant_does_not_hold_up_another() {
        let q = LocalQueue::new(Arc::new(Fixed(4, 1, 4)));
        q.push(run("a1", "contoso", "p"));
        q.push(run("a2", "contoso", "p"));
        q.push(run("b1", "fabrikam", "p"));
        assert_eq!(q.next().await.id, "a1");
        // a2 waits for contoso's one place; b1 goes ahead.
        assert_eq!(q.next().await.id, "b1");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), q.next())
                .await
                .is_err()
        );
        q.done(&run("a1", "contoso", "p"));
        assert_eq!(q.next().await.id, "a2");
    }

    #[tokio::test]
    async fn per_plugin_and_total_limits_hold() {
        let q = LocalQueue::new(Arc::new(Fixed(2, 9, 1)));
        q.push(run("1", "t1", "p"));
        q.push(run("2", "t2", "p"));
        q.push(run("3", "t3", "q"));
        q.push(run("4", "t4", "r"));
        assert_eq!(q.next().await.id, "1");
        assert_eq!(q.next().await.id, "3");
        // Two running: the total is reached.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), q.next())
                .await
                .is_err()
        );
        assert!(q.remove("4"));
        assert!(!q.remove("4"));
        assert_eq!(q.waiting(), 1);
    }
}

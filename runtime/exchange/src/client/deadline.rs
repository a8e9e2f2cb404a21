//! Request timeouts without a timer per request.
//!
//! Every InvokeCommand request needs a deadline (one minute more than the
//! server's own, as the PowerShell module does), but a tokio timer per
//! request measured about 17 µs on loopback HTTPS: over a tenth of the whole
//! client's cost per call. The deadlines are minutes long and need no
//! precision, so one sweeper task per client checks every in-flight request
//! each [`SWEEP`] and wakes those whose time has passed; a request only
//! registers an entry in a map (and removes it when it ends).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often the sweeper looks; the precision of every deadline.
pub const SWEEP: Duration = Duration::from_millis(100);

/// The deadline of a request passed before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(pub Duration);

#[derive(Default)]
struct Entry {
    deadline: Option<Instant>,
    waker: Option<Waker>,
    expired: bool,
}

#[derive(Default)]
struct Shared {
    entries: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
}

/// The in-flight deadlines of one client. Cheap to share.
#[derive(Default)]
pub struct Deadlines {
    shared: Arc<Shared>,
    /// The sweeper task, restarted when the runtime it ran on has ended (a
    /// client may outlive one runtime and serve the next).
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Deadlines {
    /// Starts the clock of one request; the entry is removed when the
    /// returned guard drops.
    pub fn start(&self, timeout: Duration) -> Deadline {
        {
            let mut sweeper = self.sweeper.lock();
            if sweeper.as_ref().is_none_or(|task| task.is_finished()) {
                *sweeper = spawn_sweeper(Arc::downgrade(&self.shared));
            }
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            deadline: Instant::now().checked_add(timeout),
            ..Entry::default()
        };
        self.shared.entries.lock().insert(id, entry);
        Deadline {
            shared: self.shared.clone(),
            id,
            timeout,
        }
    }

    /// Requests currently holding a deadline (for tests).
    pub fn in_flight(&self) -> usize {
        self.shared.entries.lock().len()
    }
}

/// One request's deadline; every step of the request runs under it.
pub struct Deadline {
    shared: Arc<Shared>,
    id: u64,
    timeout: Duration,
}

impl Deadline {
    /// `future`, or [`Elapsed`] once the deadline has passed.
    pub fn run<F: Future>(&self, future: F) -> Within<'_, F> {
        Within {
            deadline: self,
            future: Box::pin(future),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.shared.entries.lock().remove(&self.id);
    }
}

/// The future returned by [`Deadline::run`].
pub struct Within<'a, F> {
    deadline: &'a Deadline,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Within<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(value) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        let deadline = self.deadline;
        let mut entries = deadline.shared.entries.lock();
        let Some(entry) = entries.get_mut(&deadline.id) else {
            return Poll::Pending;
        };
        if entry.expired {
            return Poll::Ready(Err(Elapsed(deadline.timeout)));
        }
        match &entry.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => entry.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Wakes expired requests every [`SWEEP`] until the client is dropped.
/// Outside a tokio runtime there is nothing to sweep for (no request can
/// run), so nothing is spawned.
fn spawn_sweeper(shared: Weak<Shared>) -> Option<tokio::task::JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    Some(runtime.spawn(async move {
        let mut tick = tokio::time::interval(SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let now = Instant::now();
            for entry in shared.entries.lock().values_mut() {
                if !entry.expired && entry.deadline.is_some_and(|d| d <= now) {
                    entry.expired = true;
                    if let Some(waker) = entry.waker.take() {
                        waker.wake();
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_past_its_deadline_ends_with_elapsed() {
        let deadlines = Deadlines::default();
        let deadline = deadlines.start(Duration::from_millis(150));
        let started = Instant::now();
        let result = deadline.run(std::future::pending::<()>()).await;
        assert_eq!(result, Err(Elapsed(Duration::from_millis(150))));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn a_request_within_its_deadline_returns_its_value_and_leaves_no_entry() {
        let deadlines = Deadlines::default();
        {
            let deadline = deadlines.start(Duration::from_secs(60));
            let value = deadline
                .run(async {
                    tokio::task::yield_now().await;
                    7
                })
                .await;
            assert_eq!(value, Ok(7));
            assert_eq!(deadlines.in_flight(), 1);
        }
        assert_eq!(deadlines.in_flight(), 0);
    }

    #[tokio::test]
    async fn every_step_of_a_request_shares_one_deadline() {
        let deadlines = Deadlines::default();
        let deadline = deadlines.start(Duration::from_millis(300));
        let first = deadline
            .run(tokio::time::sleep(Duration::from_millis(200)))
            .await;
        assert_eq!(first, Ok(()));
        // The second step has only what is left of the 300 ms.
        let second = deadline
            .run(tokio::time::sleep(Duration::from_secs(30)))
            .await;
        assert_eq!(second, Err(Elapsed(Duration::from_millis(300))));
    }
}

//! Which run a call is made for, so that the tenant limiter can share the
//! tenant's budget fairly between runs (`exorun_exchange`'s
//! `limiter::fair`).
//!
//! Like the deadline ([`crate::within_deadline`]), the share travels with
//! the run's task. The sandbox sets it once, and the client reads it where
//! it waits for a slot. The layers in between need not carry it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// One run's claim on its tenant's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunShare {
    /// Unique in this process.
    pub id: u64,
    /// Relative share while runs compete for slots: a run of weight 2 gets
    /// twice the slots of a run of weight 1. Set by the operator policy
    /// (`[limits] weight`), never by a plugin's manifest.
    pub weight: u32,
}

impl RunShare {
    /// Calls made outside any run (`exorun apply`, a library caller): they
    /// share one identity of weight 1.
    pub const OUTSIDE_RUNS: RunShare = RunShare { id: 0, weight: 1 };

    /// A fresh identity for one run.
    pub fn new_run(weight: u32) -> RunShare {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        RunShare {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            weight: weight.max(1),
        }
    }
}

tokio::task_local! {
    static RUN_SHARE: RunShare;
}

/// Runs `work` with every call it makes counted as `share`'s.
pub async fn within_share<F: Future>(share: RunShare, work: F) -> F::Output {
    RUN_SHARE.scope(share, work).await
}

/// The share of the run this call belongs to, or
/// [`RunShare::OUTSIDE_RUNS`].
pub fn run_share() -> RunShare {
    RUN_SHARE.try_with(|s| *s).unwrap_or(RunShare::OUTSIDE_RUNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_share_is_seen_inside_the_scope_only() {
        assert_eq!(run_share(), RunShare::OUTSIDE_RUNS);
        let share = RunShare::new_run(3);
        let seen = within_share(share, async {
            tokio::task::yield_now().await;
            run_share()
        })
        .await;
        assert_eq!(seen, share);
        assert_ne!(RunShare::new_run(1).id, share.id);
        assert_eq!(RunShare::new_run(0).weight, 1);
    }
}

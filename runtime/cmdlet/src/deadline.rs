//! The run's deadline, as every call made on its behalf sees it.
//!
//! A backend retries a throttled call by waiting; whether it may wait
//! depends on how long the run that made the call still has. The deadline
//! travels with the run's task (a task-local, like a tracing span) rather
//! than through every `Backend` method, so the sandbox sets it once and the
//! client reads it where it decides to wait, and the layers in between
//! (the policy gate, the what-if recorder, `invoke-many`'s fan-out, which
//! polls its calls on the run's own task) need not know about it.

use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static RUN_DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the deadline of every call it makes.
pub async fn within_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    RUN_DEADLINE.scope(deadline, work).await
}

/// The deadline of the run this call belongs to, if it has one (a plan
/// being applied or a library caller may have none).
pub fn run_deadline() -> Option<Instant> {
    RUN_DEADLINE.try_with(|d| *d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_deadline_is_seen_inside_the_scope_only() {
        assert_eq!(run_deadline(), None);
        let deadline = Instant::now() + Duration::from_secs(5);
        let seen = within_deadline(deadline, async {
            tokio::task::yield_now().await;
            run_deadline()
        })
        .await;
        assert_eq!(seen, Some(deadline));
        assert_eq!(run_deadline(), None);
    }
}

//! The scheduler's clock: the system's, or an accelerated one for the
//! benchmark that drives thousands of slots through in minutes.

use std::time::{Duration, Instant};

use jiff::Timestamp;

#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Sleeps until the clock reads `at` (or later).
    async fn sleep_until(&self, at: Timestamp);
}

pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep_until(&self, at: Timestamp) {
        let wait = at.duration_since(Timestamp::now());
        if wait.is_positive() {
            tokio::time::sleep(wait.unsigned_abs()).await;
        }
    }
}

/// Runs `factor` times faster than real time from `start`.
pub struct AcceleratedClock {
    start: Timestamp,
    real_start: Instant,
    factor: f64,
}

impl AcceleratedClock {
    pub fn new(start: Timestamp, factor: f64) -> Self {
        AcceleratedClock {
            start,
            real_start: Instant::now(),
            factor: factor.max(1.0),
        }
    }

    /// The real time until the clock reads `at`.
    pub fn real_until(&self, at: Timestamp) -> Duration {
        let ahead = at.duration_since(self.now());
        if ahead.is_positive() {
            Duration::from_secs_f64(ahead.as_secs_f64() / self.factor)
        } else {
            Duration::ZERO
        }
    }
}

#[async_trait::async_trait]
impl Clock for AcceleratedClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.real_start.elapsed().as_secs_f64() * self.factor;
        self.start
            .checked_add(jiff::SignedDuration::from_secs_f64(elapsed))
            .unwrap_or(self.start)
    }

    async fn sleep_until(&self, at: Timestamp) {
        tokio::time::sleep(self.real_until(at)).await;
    }
}

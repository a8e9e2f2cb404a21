//! When and how long to wait before trying a call again (docs/protocol.md, "Retries, throttling and 401").
//!
//! Two kinds of trouble, bounded differently:
//! - **Throttling** (429, or the service's "too many concurrent requests")
//!   is the normal state of a busy tenant, and a throttled request was not
//!   executed. It is retried for as long as the call may wait
//!   ([`RetryPolicy::max_throttle_wait`]) and the run's deadline allows, never
//!   by a count: six `Retry-After: 0.002` answers would otherwise spend the
//!   module's six attempts in a few milliseconds. Each wait honours
//!   `Retry-After`, but is at least a floor that doubles with every 429 of
//!   the same call, and gets jitter so that runs throttled together do not
//!   come back together.
//! - **Failures** (503/504, the named transient exceptions, a request that
//!   never reached the server) follow the module: six attempts, backing off
//!   exponentially from two seconds, with jitter.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The retry rules of one connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total for failures other than throttling, the first
    /// included (module: 1 + 5).
    pub max_attempts: u32,
    /// First backoff after a failure; doubles per retry (module: 2 s → 2, 4,
    /// 8, 16, 32 s). Also the ceiling of the throttling floor.
    pub base_delay: Duration,
    /// No single backoff is longer than this.
    pub max_delay: Duration,
    /// The longest one call spends waiting out throttling, all its waits
    /// together. A wait that would go past it, or past the run's deadline,
    /// is not waited: the call fails with `Throttled` and the plugin
    /// decides.
    pub max_throttle_wait: Duration,
    /// The shortest wait after a 429, doubling with each further 429 of
    /// the same call (up to `base_delay`), whatever `Retry-After` says.
    pub throttle_floor: Duration,
    /// Randomise each wait: failures within [d/2, d] ("equal jitter"),
    /// throttling within [d, 1.25 d] (never shorter than the server asked).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_throttle_wait: Duration::from_secs(300),
            throttle_floor: Duration::from_millis(50),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` after a failure (0 for the
    /// first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        half + random_up_to(half)
    }

    /// The wait after the `throttled`-th 429 of one call (1 for the first),
    /// given the server's `Retry-After`, before jitter: what a plugin is
    /// told to wait when the call gives up.
    pub fn throttle_wait(&self, throttled: u32, retry_after: Option<Duration>) -> Duration {
        let floor = self
            .throttle_floor
            .saturating_mul(2u32.saturating_pow(throttled.saturating_sub(1).min(20)))
            .min(self.base_delay.max(self.throttle_floor));
        retry_after.unwrap_or(floor).max(floor)
    }

    /// `wait` plus up to a quarter more, so that runs throttled together
    /// spread out (never less than the server asked).
    pub fn jittered(&self, wait: Duration) -> Duration {
        if !self.jitter || wait.is_zero() {
            return wait;
        }
        wait + random_up_to(wait / 4)
    }
}

/// Uniform in [0, d].
fn random_up_to(d: Duration) -> Duration {
    let micros = d.as_micros().min(u128::from(u64::MAX)) as u64;
    Duration::from_micros(rand::random_range(0..=micros))
}

/// How long one call may still wait on throttling: the tighter of its own
/// allowance (counted from its first attempt) and the run's deadline.
#[derive(Clone, Copy, Debug)]
pub struct WaitAllowance {
    until: Instant,
}

impl WaitAllowance {
    /// From now, `max_throttle_wait`, cut short by `run_deadline` (less a
    /// margin for the request itself and the plugin's own work after it).
    pub fn new(policy: &RetryPolicy, run_deadline: Option<Instant>) -> Self {
        let now = Instant::now();
        let mut until = now + policy.max_throttle_wait;
        if let Some(deadline) = run_deadline {
            let margin = Duration::from_millis(500);
            until = until.min(deadline.checked_sub(margin).unwrap_or(now).max(now));
        }
        WaitAllowance { until }
    }

    /// Whether a wait of `wait` starting now still ends within the allowance.
    pub fn allows(&self, wait: Duration) -> bool {
        Instant::now() + wait <= self.until
    }
}

/// `Retry-After` as decimal seconds (`1.5`), the form the module parses.
/// Negative, non-finite or unparseable values are ignored.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Whole milliseconds for `CmdletError::Throttled`, saturating.
pub fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_from_the_base_without_jitter() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let waits: Vec<u64> = (0..5).map(|r| p.backoff(r).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32]);
        assert_eq!(p.backoff(10), Duration::from_secs(60));
    }

    #[test]
    fn jittered_backoff_stays_between_half_and_full() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            let d = p.backoff(1);
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_tiny_retry_after_is_raised_to_a_floor_that_doubles_per_429() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let tiny = Some(Duration::from_millis(2));
        let waits: Vec<u128> = (1..=8)
            .map(|n| p.throttle_wait(n, tiny).as_millis())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        // A longer Retry-After is honoured as given.
        assert_eq!(
            p.throttle_wait(1, Some(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
        // No Retry-After: the floor.
        assert_eq!(p.throttle_wait(2, None), Duration::from_millis(100));
    }

    #[test]
    fn throttle_jitter_never_shortens_the_servers_wait() {
        let p = RetryPolicy::default();
        let asked = Duration::from_millis(400);
        assert_eq!(p.throttle_wait(1, Some(asked)), asked);
        for _ in 0..100 {
            let d = p.jittered(p.throttle_wait(1, Some(asked)));
            assert!(d >= asked && d <= asked + asked / 4, "{d:?}");
        }
    }

    #[test]
    fn the_allowance_is_cut_short_by_the_run_deadline() {
        let p = RetryPolicy::default();
        let unbounded = WaitAllowance::new(&p, None);
        assert!(unbounded.allows(Duration::from_secs(299)));
        assert!(!unbounded.allows(Duration::from_secs(301)));
        let soon = WaitAllowance::new(&p, Some(Instant::now() + Duration::from_secs(3)));
        assert!(soon.allows(Duration::from_secs(2)));
        assert!(!soon.allows(Duration::from_secs(3)));
        let past = WaitAllowance::new(&p, Some(Instant::now()));
        assert!(!past.allows(Duration::from_millis(1)));
    }

    #[test]
    fn retry_after_is_read_as_decimal_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }
}

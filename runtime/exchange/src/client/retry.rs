//! When and how long to wait before trying a call again (docs/protocol.md, "Retries, throttling and 401").
//!
//! The rules mirror the ExchangeOnlineManagement module: six attempts, 429
//! honours a decimal `Retry-After`, 503/504 and the named transient
//! exceptions back off exponentially from two seconds. Jitter is added so a
//! hundred runs throttled together do not all come back at the same instant.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The retry budget and backoff of one connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (module: 1 + 5).
    pub max_attempts: u32,
    /// First backoff; doubles per retry (module: 2 s → 2, 4, 8, 16, 32 s).
    pub base_delay: Duration,
    /// No single backoff is longer than this.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited out inside the call:
    /// the call fails with `Throttled` and the plugin decides.
    pub max_retry_after: Duration,
    /// Randomise each backoff within [d/2, d] ("equal jitter").
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        let extra = rand::random_range(0..=half.as_micros().min(u128::from(u64::MAX)) as u64);
        half + Duration::from_micros(extra)
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

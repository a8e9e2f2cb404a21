//! Per-app throttling of InvokeCommand: a token bucket (budget per second,
//! burst) and a cap on requests in flight, reported in the `Rate-Limit-*`
//! headers of every answer (docs/protocol.md, "Rate-limit headers") and enforced with `429` and a
//! decimal `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::clock;
use crate::config::ThrottleConfig;

/// The state of one app's budget after a request was counted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateStatus {
    pub limit: u64,
    pub remaining: u64,
    /// Unix time at which the bucket is full again.
    pub reset_at: f64,
    /// Requests of this app in flight, this one included.
    pub in_flight: usize,
}

impl RateStatus {
    /// The three `Rate-Limit-*` headers.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("Rate-Limit-Limit", self.limit.to_string()),
            ("Rate-Limit-Remaining", self.remaining.to_string()),
            ("Rate-Limit-Reset", clock::iso8601_millis(self.reset_at)),
        ]
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refusal {
    /// The bucket is empty; a token arrives after `retry_after`.
    Budget {
        retry_after: Duration,
        status: RateStatus,
    },
    /// Too many requests of this app are in flight.
    Concurrency {
        retry_after: Duration,
        status: RateStatus,
    },
}

/// Formats seconds as the decimal `Retry-After` the module parses ("0.250").
pub fn retry_after_value(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

pub struct Throttle {
    config: ThrottleConfig,
    apps: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
    in_flight: Arc<()>,
}

/// Holds one concurrency slot until dropped (after the answer is built).
#[derive(Debug)]
pub struct Permit {
    _slot: Arc<()>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `app_id`: a permit and the status, or why not.
    pub fn admit(&self, app_id: &str) -> Result<(Permit, RateStatus), Refusal> {
        let rate = self.config.budget_per_second.max(f64::MIN_POSITIVE);
        let burst = self.config.burst.max(1.0);
        let now = Instant::now();
        let mut apps = self.apps.lock();
        let bucket = apps
            .entry(app_id.to_ascii_lowercase())
            .or_insert_with(|| Bucket {
                tokens: burst,
                refilled: now,
                in_flight: Arc::new(()),
            });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;

        // The Arc's count minus the bucket's own reference is the number of
        // permits alive: no separate counter to keep in step.
        let in_flight = Arc::strong_count(&bucket.in_flight) - 1;
        let status = |tokens: f64, in_flight: usize| RateStatus {
            limit: burst.min(u64::MAX as f64) as u64,
            remaining: tokens.max(0.0).floor() as u64,
            reset_at: clock::unix_now_f64() + ((burst - tokens).max(0.0) / rate).min(1e9),
            in_flight,
        };
        if in_flight >= self.config.max_concurrency.max(1) {
            return Err(Refusal::Concurrency {
                // Requests here are short; a brief pause is enough.
                retry_after: Duration::from_millis(100),
                status: status(bucket.tokens, in_flight),
            });
        }
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) / rate).min(3600.0);
            return Err(Refusal::Budget {
                retry_after: Duration::from_secs_f64(wait.max(0.001)),
                status: status(bucket.tokens, in_flight),
            });
        }
        bucket.tokens -= 1.0;
        let permit = Permit {
            _slot: Arc::clone(&bucket.in_flight),
        };
        Ok((permit, status(bucket.tokens, in_flight + 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(rate: f64, burst: f64, concurrency: usize) -> Throttle {
        Throttle::new(ThrottleConfig {
            budget_per_second: rate,
            burst,
            max_concurrency: concurrency,
        })
    }

    #[test]
    fn the_burst_is_spent_then_refused_with_the_time_to_the_next_token() {
        let t = throttle(4.0, 3.0, 100);
        for expected_remaining in [2, 1, 0] {
            let (_, status) = t.admit("app").unwrap();
            assert_eq!(status.remaining, expected_remaining);
            assert_eq!(status.limit, 3);
        }
        match t.admit("app") {
            Err(Refusal::Budget { retry_after, .. }) => {
                assert!(retry_after <= Duration::from_millis(250), "{retry_after:?}");
                assert!(retry_after >= Duration::from_millis(200), "{retry_after:?}");
            }
            other => panic!("expected a budget refusal, got {other:?}"),
        }
        // Another app has its own bucket.
        assert!(t.admit("other").is_ok());
    }

    #[test]
    fn concurrency_counts_live_permits_only() {
        let t = throttle(1000.0, 1000.0, 2);
        let a = t.admit("app").unwrap();
        let _b = t.admit("app").unwrap();
        assert!(matches!(t.admit("app"), Err(Refusal::Concurrency { .. })));
        drop(a);
        assert!(t.admit("app").is_ok());
    }

    #[test]
    fn retry_after_is_decimal_seconds() {
        assert_eq!(retry_after_value(Duration::from_millis(250)), "0.250");
        assert_eq!(retry_after_value(Duration::from_millis(1500)), "1.500");
    }
}

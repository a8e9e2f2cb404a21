//! The per-tenant adaptive limiter: every run and every `invoke-many`
//! against one tenant goes through one of these, so together they spend the
//! tenant's budget as fast as it allows without tripping 429s.
//!
//! Two controls:
//! - **Concurrency** (AIMD): start at `initial_concurrency`; each 429 halves
//!   the cap, each round of `cap` successes adds one, up to
//!   `max_concurrency`. This finds the service's concurrency limit.
//! - **Pacing**: the `Rate-Limit-Remaining`/`Rate-Limit-Reset` headers
//!   (docs/protocol.md, "Rate-limit headers") say how much budget is left and when it is whole again. While the
//!   remaining budget (minus requests already in flight) is above a low-water
//!   mark, requests go out unpaced; below it they are spaced at the refill
//!   rate the headers imply, times a safety factor. A 429's `Retry-After`
//!   holds every request of the tenant until it has passed.
//!
//! The reset time is read as "when the budget is whole again" (a token
//! bucket, as the simulator implements it): refill rate = (limit −
//! remaining) / (reset − now). Against a fixed window this paces a little
//! fast near the window's end; the 429 path absorbs that.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::shared::Registry;
use crate::time_util::parse_iso8601_utc;

/// Tuning of a [`TenantLimiter`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimiterConfig {
    pub initial_concurrency: usize,
    pub max_concurrency: usize,
    /// Below this many remaining requests (or the current concurrency cap,
    /// whichever is larger) pacing starts.
    pub low_water: u64,
    /// Fraction of the implied refill rate to use when pacing (< 1 stays
    /// just under the budget).
    pub safety: f64,
    /// The longest a `Retry-After` holds the whole tenant. A server asking
    /// for longer still gets its wait per call (the call fails with
    /// `Throttled`), but other runs are not frozen for minutes.
    pub max_hold: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            initial_concurrency: 16,
            max_concurrency: 64,
            low_water: 8,
            safety: 0.9,
            max_hold: Duration::from_secs(30),
        }
    }
}

struct State {
    cap: usize,
    /// Permits to forget as they come back, after the cap was lowered.
    debt: usize,
    in_flight: usize,
    successes: usize,
    next_slot: Instant,
    interval: Duration,
    blocked_until: Instant,
    last_decrease: Option<Instant>,
    throttled: u64,
}

/// Live limiters by (Exchange base, tenant).
/// One tenant's shared pacing and concurrency state.
pub struct TenantLimiter {
    config: LimiterConfig,
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
}

impl fmt::Debug for TenantLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("TenantLimiter")
            .field("cap", &s.cap)
            .field("in_flight", &s.in_flight)
            .field("interval", &s.interval)
            .field("throttled", &s.throttled)
            .finish()
    }
}

/// Holds a concurrency slot until the response has been read.
pub struct LimiterPermit {
    limiter: Arc<TenantLimiter>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for LimiterPermit {
    fn drop(&mut self) {
        let mut s = self.limiter.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.debt > 0
            && let Some(p) = self.permit.take()
        {
            s.debt -= 1;
            p.forget();
        }
    }
}

impl TenantLimiter {
    pub fn new(config: LimiterConfig) -> Arc<Self> {
        let max = config.max_concurrency.max(1);
        let cap = config.initial_concurrency.clamp(1, max);
        let now = Instant::now();
        Arc::new(TenantLimiter {
            config: LimiterConfig {
                max_concurrency: max,
                ..config
            },
            semaphore: Arc::new(Semaphore::new(cap)),
            state: Mutex::new(State {
                cap,
                debt: 0,
                in_flight: 0,
                successes: 0,
                next_slot: now,
                interval: Duration::ZERO,
                blocked_until: now,
                last_decrease: None,
                throttled: 0,
            }),
        })
    }

    /// The limiter of `(exchange_base, tenant)`, shared process-wide while
    /// any connection uses it.
    pub fn shared(exchange_base: &str, tenant: &str, config: LimiterConfig) -> Arc<Self> {
        static REGISTRY: LazyLock<Registry<(String, String), TenantLimiter>> =
            LazyLock::new(Registry::default);
        let key = (
            exchange_base.to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
        );
        REGISTRY.get_or_make(key, || TenantLimiter::new(config))
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Waits for a concurrency slot and for this request's pacing slot.
    pub async fn acquire(self: &Arc<Self>) -> LimiterPermit {
        // The semaphore is never closed; if it were, go on unlimited rather
        // than fail a call.
        let permit = Arc::clone(&self.semaphore).acquire_owned().await.ok();
        let slot = {
            let mut s = self.lock();
            let now = Instant::now();
            let slot = now.max(s.next_slot).max(s.blocked_until);
            s.next_slot = slot + s.interval;
            s.in_flight += 1;
            slot
        };
        let permit = LimiterPermit {
            limiter: Arc::clone(self),
            permit,
        };
        // Unpaced requests skip the timer entirely: the common case.
        if slot > Instant::now() {
            tokio::time::sleep_until(slot.into()).await;
        }
        permit
    }

    /// Learns from one answer: its status, `Retry-After` and rate headers.
    pub fn observe(&self, status: u16, retry_after: Option<Duration>, headers: &HeaderMap) {
        let now = Instant::now();
        let mut s = self.lock();
        if status == 429 {
            s.throttled += 1;
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1))
                .min(self.config.max_hold);
            s.blocked_until = s.blocked_until.max(now + wait);
            // Halve at most once per wait, so a burst of 429s from requests
            // that were already in flight counts as one signal.
            let recent = s
                .last_decrease
                .is_some_and(|t| now < t + wait.max(Duration::from_millis(100)));
            if !recent && s.cap > 1 {
                let new_cap = (s.cap / 2).max(1);
                s.debt += s.cap - new_cap;
                s.cap = new_cap;
                s.last_decrease = Some(now);
                tracing::debug!(cap = new_cap, "throttled: lowering tenant concurrency");
            }
            s.successes = 0;
        } else if (200..300).contains(&status) {
            s.successes += 1;
            if s.successes >= s.cap && s.cap < self.config.max_concurrency {
                s.successes = 0;
                s.cap += 1;
                if s.debt > 0 {
                    s.debt -= 1;
                } else {
                    self.semaphore.add_permits(1);
                }
            }
        }
        self.pace_from_headers(&mut s, headers, now);
    }

    fn pace_from_headers(&self, s: &mut State, headers: &HeaderMap, now: Instant) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let Some(remaining) = number("Rate-Limit-Remaining") else {
            return;
        };
        let limit = number("Rate-Limit-Limit");
        let window = headers
            .get("Rate-Limit-Reset")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_iso8601_utc)
            .and_then(|reset| reset.duration_since(SystemTime::now()).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // Requests already sent but not yet counted in this answer.
        let others = s.in_flight.saturating_sub(1) as f64;
        let effective = remaining - others;
        let low_water = (self.config.low_water as f64).max(s.cap as f64);
        if effective > low_water || window <= 0.0 {
            s.interval = Duration::ZERO;
            return;
        }
        let used = limit.map(|l| (l - remaining).max(0.0)).unwrap_or(0.0);
        let rate = if used > 0.0 {
            used / window
        } else {
            remaining.max(1.0) / window
        };
        let rate = (rate * self.config.safety).max(1e-3);
        s.interval = Duration::from_secs_f64((1.0 / rate).min(60.0));
        if effective < 1.0 {
            // Spent: the next request waits for one refill.
            s.next_slot = s.next_slot.max(now + s.interval);
        }
    }

    /// Current concurrency cap.
    pub fn concurrency(&self) -> usize {
        self.lock().cap
    }

    /// Current spacing between requests (zero when unpaced).
    pub fn interval(&self) -> Duration {
        self.lock().interval
    }

    /// 429 answers seen so far.
    pub fn throttled(&self) -> u64 {
        self.lock().throttled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(limit: u64, remaining: u64, reset_in: Duration) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Rate-Limit-Limit", HeaderValue::from(limit));
        h.insert("Rate-Limit-Remaining", HeaderValue::from(remaining));
        let reset = crate::time_util::format_utc(SystemTime::now() + reset_in).replace(' ', "T");
        h.insert("Rate-Limit-Reset", HeaderValue::from_str(&reset).unwrap());
        h
    }

    #[tokio::test]
    async fn a_429_halves_concurrency_and_successes_grow_it_back() {
        let l = TenantLimiter::new(LimiterConfig {
            initial_concurrency: 8,
            max_concurrency: 8,
            ..LimiterConfig::default()
        });
        l.observe(429, Some(Duration::from_millis(1)), &HeaderMap::new());
        assert_eq!(l.concurrency(), 4);
        for _ in 0..4 {
            l.observe(200, None, &HeaderMap::new());
        }
        assert_eq!(l.concurrency(), 5);
    }

    #[tokio::test]
    async fn plenty_of_budget_means_no_pacing() {
        let l = TenantLimiter::new(LimiterConfig::default());
        l.observe(200, None, &headers(30_000, 29_000, Duration::from_secs(60)));
        assert_eq!(l.interval(), Duration::ZERO);
    }

    #[tokio::test]
    async fn low_budget_paces_at_the_implied_refill_rate() {
        let l = TenantLimiter::new(LimiterConfig {
            initial_concurrency: 1,
            safety: 1.0,
            ..LimiterConfig::default()
        });
        // 100 used, whole again in 10 s: 10 per second.
        l.observe(200, None, &headers(102, 2, Duration::from_secs(10)));
        let i = l.interval().as_secs_f64();
        // The reset header has whole seconds: the window is (9, 10] s.
        assert!((0.089..=0.101).contains(&i), "{i}");
    }

    #[tokio::test]
    async fn retry_after_holds_every_request() {
        let l = TenantLimiter::new(LimiterConfig::default());
        l.observe(429, Some(Duration::from_millis(200)), &HeaderMap::new());
        let start = Instant::now();
        let _p = l.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(190));
    }
}

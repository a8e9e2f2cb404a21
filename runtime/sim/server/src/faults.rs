//! Fault injection: latency, 5xx answers, 429 storms, a dropped connection
//! in the middle of a paged read, and a token-endpoint outage.
//!
//! Every random choice is drawn from a seeded ChaCha stream of its own, so a
//! run with the same seed and the same sequence of requests sees the same
//! faults. Faults can be switched at start (`SimConfig::faults`) and at run
//! time (`FaultHandle::set`, or `POST /_sim/faults` with the same JSON).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The faults to inject. All off by default. Also the JSON body of
/// `POST /_sim/faults` (unknown fields are refused).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Added to every InvokeCommand answer, in milliseconds.
    pub latency_ms: u64,
    /// Plus a uniform random extra in `0..=latency_jitter_ms`.
    pub latency_jitter_ms: u64,
    /// Share (0.0–1.0) of InvokeCommand requests answered 500.
    pub error_500_rate: f64,
    /// Share answered 503.
    pub error_503_rate: f64,
    /// Share answered 504.
    pub error_504_rate: f64,
    /// Every InvokeCommand is answered 429 for this long after the faults
    /// are applied.
    pub throttle_storm_ms: u64,
    /// `Retry-After` of storm answers, in milliseconds.
    pub throttle_storm_retry_after_ms: u64,
    /// Drop the connection, without an answer, the first time a paged read
    /// asks for this page (1 = the first answer, 2 = the first nextLink).
    /// Fires once per application of the config, so a retry gets through.
    pub reset_on_page: Option<u32>,
    /// The token endpoints answer 503 `temporarily_unavailable` for this
    /// long after the faults are applied.
    pub token_outage_ms: u64,
    /// Once this many Microsoft Graph requests have been served since the
    /// faults were applied, every further one is answered 503
    /// `serviceNotAvailable`: Graph going down in the middle of a
    /// certificate rotation.
    pub graph_outage_after: Option<u64>,
    /// The managed identity endpoints answer 200 with a body that is not
    /// JSON.
    pub identity_garbage: bool,
    /// The managed identity endpoints wait this long before answering.
    pub identity_stall_ms: u64,
}

/// What the InvokeCommand handler must do before serving a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvokeFault {
    /// Answer with this status (500, 503 or 504).
    Status(u16),
    /// Answer 429 with this `Retry-After`.
    Throttle(Duration),
}

/// Switches faults of a running simulator. Cheap to clone.
#[derive(Clone)]
pub struct FaultHandle {
    inner: Arc<Mutex<FaultState>>,
}

struct FaultState {
    config: FaultConfig,
    storm_until: Option<Instant>,
    outage_until: Option<Instant>,
    reset_armed: bool,
    /// Graph requests served since the config was applied.
    graph_served: u64,
    latency_rng: ChaCha8Rng,
    error_rng: ChaCha8Rng,
}

/// Independent streams so that enabling latency does not shift which
/// requests get a 5xx.
const LATENCY_STREAM: u64 = 1;
const ERROR_STREAM: u64 = 2;

impl FaultHandle {
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        let stream = |n: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(n);
            rng
        };
        let handle = FaultHandle {
            inner: Arc::new(Mutex::new(FaultState {
                config: FaultConfig::default(),
                storm_until: None,
                outage_until: None,
                reset_armed: false,
                graph_served: 0,
                latency_rng: stream(LATENCY_STREAM),
                error_rng: stream(ERROR_STREAM),
            })),
        };
        handle.set(config);
        handle
    }

    /// Replaces the fault configuration; periods start now.
    pub fn set(&self, config: FaultConfig) {
        let now = Instant::now();
        let period = |ms: u64| (ms > 0).then(|| now + Duration::from_millis(ms));
        self.with(|s| {
            s.storm_until = period(config.throttle_storm_ms);
            s.outage_until = period(config.token_outage_ms);
            s.reset_armed = config.reset_on_page.is_some();
            s.graph_served = 0;
            s.config = config;
        });
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.set(FaultConfig::default());
    }

    /// The configuration in force.
    pub fn config(&self) -> FaultConfig {
        self.with(|s| s.config.clone())
    }

    /// True while the token endpoint is in its simulated outage.
    pub fn token_outage_active(&self) -> bool {
        self.with(|s| s.outage_until.is_some_and(|t| Instant::now() < t))
    }

    /// The extra delay for the next InvokeCommand answer.
    pub fn next_latency(&self) -> Duration {
        self.with(|s| {
            let base = s.config.latency_ms;
            let jitter = s.config.latency_jitter_ms;
            let extra = if jitter > 0 {
                s.latency_rng.random_range(0..=jitter)
            } else {
                0
            };
            Duration::from_millis(base.saturating_add(extra))
        })
    }

    /// Decides whether the next InvokeCommand is answered with a fault.
    /// One draw per request, whatever the rates, keeps the stream aligned.
    pub fn next_invoke_fault(&self) -> Option<InvokeFault> {
        self.with(|s| {
            let draw: f64 = s.error_rng.random();
            if s.storm_until.is_some_and(|t| Instant::now() < t) {
                let ms = s.config.throttle_storm_retry_after_ms.max(1);
                return Some(InvokeFault::Throttle(Duration::from_millis(ms)));
            }
            let c = &s.config;
            let rate = |r: f64| {
                if r.is_finite() {
                    r.clamp(0.0, 1.0)
                } else {
                    0.0
                }
            };
            let (r500, r503, r504) = (
                rate(c.error_500_rate),
                rate(c.error_503_rate),
                rate(c.error_504_rate),
            );
            if draw < r500 {
                Some(InvokeFault::Status(500))
            } else if draw < r500 + r503 {
                Some(InvokeFault::Status(503))
            } else if draw < r500 + r503 + r504 {
                Some(InvokeFault::Status(504))
            } else {
                None
            }
        })
    }

    /// Counts one Graph request; true when it must meet the outage.
    pub(crate) fn graph_request_fails(&self) -> bool {
        self.with(|s| {
            let failing = s
                .config
                .graph_outage_after
                .is_some_and(|after| s.graph_served >= after);
            if !failing {
                s.graph_served += 1;
            }
            failing
        })
    }

    /// What the identity endpoints must do first: stall this long, and
    /// whether to answer garbage.
    pub(crate) fn identity_faults(&self) -> (Duration, bool) {
        self.with(|s| {
            (
                Duration::from_millis(s.config.identity_stall_ms),
                s.config.identity_garbage,
            )
        })
    }

    /// True (once) when the connection must be dropped on this page.
    pub fn take_reset(&self, page: u32) -> bool {
        self.with(|s| {
            if s.reset_armed && s.config.reset_on_page == Some(page) {
                s.reset_armed = false;
                true
            } else {
                false
            }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut FaultState) -> T) -> T {
        let mut guard = self.inner.lock();
        f(&mut guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(seed: u64) -> Vec<Option<InvokeFault>> {
        let faults = FaultHandle::new(
            FaultConfig {
                error_500_rate: 0.2,
                error_503_rate: 0.2,
                error_504_rate: 0.2,
                ..FaultConfig::default()
            },
            seed,
        );
        (0..50).map(|_| faults.next_invoke_fault()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        assert_eq!(statuses(7), statuses(7));
        assert_ne!(statuses(7), statuses(8));
    }

    #[test]
    fn a_reset_fires_once_on_its_page() {
        let faults = FaultHandle::new(
            FaultConfig {
                reset_on_page: Some(2),
                ..FaultConfig::default()
            },
            1,
        );
        assert!(!faults.take_reset(1));
        assert!(faults.take_reset(2));
        assert!(!faults.take_reset(2));
    }

    #[test]
    fn graph_goes_down_after_the_given_number_of_requests() {
        let faults = FaultHandle::new(
            FaultConfig {
                graph_outage_after: Some(2),
                ..FaultConfig::default()
            },
            1,
        );
        let seen: Vec<bool> = (0..4).map(|_| faults.graph_request_fails()).collect();
        assert_eq!(seen, [false, false, true, true]);
        faults.clear();
        assert!(!faults.graph_request_fails());
    }

    #[test]
    fn no_faults_by_default() {
        let faults = FaultHandle::new(FaultConfig::default(), 1);
        assert!((0..100).all(|_| faults.next_invoke_fault().is_none()));
        assert_eq!(faults.next_latency(), Duration::ZERO);
        assert!(!faults.token_outage_active());
    }
}

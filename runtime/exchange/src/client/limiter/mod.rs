//! The per-tenant adaptive limiter: every run and every `invoke-many`
//! against one tenant and app goes through one of these, so together they
//! spend the tenant's budget as fast as it allows without tripping 429s.
//!
//! Three controls:
//! - **Concurrency** (AIMD, per process): start at `initial_concurrency`;
//!   each 429 halves the cap, each round of `cap` successes adds one, up to
//!   `max_concurrency`. This finds the service's concurrency limit.
//! - **Pacing** (shared, [`pace`]): the `Rate-Limit-*` headers
//!   (docs/protocol.md, "Rate-limit headers") describe the app's budget as
//!   a bucket; the limiter keeps a mirror of it that every send draws on
//!   before it goes, refilled at the implied rate times a safety factor
//!   times the group's AIMD share. A 429's `Retry-After` holds every
//!   request until it has passed. The state lives in a [`PaceStore`]: one
//!   per process by default, one per machine and user for the CLI
//!   ([`PaceSharing::Folder`]), so that concurrent processes pace together.
//!
//! - **Fair order** ([`fair`]): while sends wait for pacing slots, the
//!   slots go to runs in proportion to their weights (start-time fair
//!   queuing), not in arrival order, so a long report cannot make an
//!   urgent write wait behind its whole backlog.
//!
//! The reset time is read as "when the budget is whole again" (a token
//! bucket, as the simulator implements it): refill rate = (limit −
//! remaining) / (reset − now). Against a fixed window this paces a little
//! fast near the window's end; the 429 path absorbs that.

mod fair;
pub mod pace;
pub mod store;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use exorun_cmdlet::RunShare;

use crate::shared::Registry;
use crate::time_util::parse_iso8601_utc;
use pace::{PaceRules, PaceState, RateReading};
pub use store::{InProcess, PaceStore, PaceStoreMaker, SharedFile, unix_nanos};

/// Tuning of a [`TenantLimiter`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimiterConfig {
    pub initial_concurrency: usize,
    pub max_concurrency: usize,
    /// Fraction of the implied refill rate to spend (< 1 stays just under
    /// the budget).
    pub safety: f64,
    /// The longest a `Retry-After` holds the whole tenant. A server asking
    /// for longer still gets its wait per call, but other runs are not
    /// frozen for minutes.
    pub max_hold: Duration,
    /// The pacing share is multiplied by this on throttling…
    pub decrease: f64,
    /// …and regains this much per second without it.
    pub recovery_per_second: f64,
    /// While sends wait for pacing slots, hand the slots to runs in
    /// proportion to their weights ([`fair`]) rather than in arrival order.
    pub fair_sharing: bool,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            initial_concurrency: 16,
            max_concurrency: 64,
            safety: 0.95,
            max_hold: Duration::from_secs(30),
            decrease: 0.5,
            recovery_per_second: 0.5,
            fair_sharing: true,
        }
    }
}

impl LimiterConfig {
    /// The pacing rules this configuration sets (what a [`SharedFile`]
    /// needs to repair a state it reads).
    pub fn pace_rules(&self) -> PaceRules {
        PaceRules {
            safety: self.safety,
            max_hold: self.max_hold,
            decrease: self.decrease.clamp(0.05, 1.0),
            recovery_per_second: self.recovery_per_second.max(0.0),
            min_share: 1.0 / 32.0,
        }
    }
}

/// Who shares one tenant's pacing state.
#[derive(Clone, Debug, Default)]
pub enum PaceSharing {
    /// The runs of this process.
    #[default]
    Process,
    /// Every process of this user on this machine, through a small file
    /// per tenant and app in this folder (the CLI's
    /// `$XDG_STATE_HOME/exorun/pace`).
    Folder(PathBuf),
    /// Every client of the store this makes, on any machine (NATS
    /// JetStream: `exorun_nats::NatsPaceMaker`).
    Store(Arc<dyn PaceStoreMaker>),
}

impl PartialEq for PaceSharing {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PaceSharing::Process, PaceSharing::Process) => true,
            (PaceSharing::Folder(a), PaceSharing::Folder(b)) => a == b,
            (PaceSharing::Store(a), PaceSharing::Store(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for PaceSharing {}

/// The process-local concurrency state.
struct Concurrency {
    cap: usize,
    /// Permits to forget as they come back, after the cap was lowered.
    debt: usize,
    successes: usize,
    last_decrease: Option<std::time::Instant>,
    /// 429 answers this process saw.
    throttled: u64,
}

/// One tenant's shared pacing and concurrency state.
pub struct TenantLimiter {
    config: LimiterConfig,
    rules: PaceRules,
    semaphore: Arc<Semaphore>,
    local: Mutex<Concurrency>,
    pace: Box<dyn PaceStore>,
    fair: Mutex<fair::FairQueue>,
}

impl fmt::Debug for TenantLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.local.lock();
        f.debug_struct("TenantLimiter")
            .field("cap", &s.cap)
            .field("throttled", &s.throttled)
            .finish_non_exhaustive()
    }
}

/// One send's place: a concurrency slot and a pacing slot, held until the
/// answer has been read. Its answer is reported with [`Self::observe`]; a
/// send that got none settles when the permit is dropped.
pub struct LimiterPermit {
    limiter: Arc<TenantLimiter>,
    permit: Option<OwnedSemaphorePermit>,
    settled: bool,
}

impl LimiterPermit {
    /// Learns from this send's answer: its status, `Retry-After` and rate
    /// headers.
    pub fn observe(&mut self, status: u16, retry_after: Option<Duration>, headers: &HeaderMap) {
        self.limiter.learn(status, retry_after, headers);
        self.settled = true;
    }
}

impl Drop for LimiterPermit {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.pace.update(&mut |p, _| p.settled());
        }
        let mut s = self.limiter.local.lock();
        if s.debt > 0
            && let Some(p) = self.permit.take()
        {
            s.debt -= 1;
            p.forget();
        }
    }
}

/// A send taking its slot directly, and sleeping until it comes; counted
/// down when dropped.
struct Awake<'a>(&'a TenantLimiter);

impl Drop for Awake<'_> {
    fn drop(&mut self) {
        let mut fair = self.0.fair.lock();
        fair.sleeping = fair.sleeping.saturating_sub(1);
    }
}

impl TenantLimiter {
    /// A limiter whose pacing is shared by the runs of this process only.
    pub fn new(config: LimiterConfig) -> Arc<Self> {
        Self::with_store(config, Box::new(InProcess::default()))
    }

    /// A limiter pacing through `pace`.
    pub fn with_store(config: LimiterConfig, pace: Box<dyn PaceStore>) -> Arc<Self> {
        let max = config.max_concurrency.max(1);
        let cap = config.initial_concurrency.clamp(1, max);
        let config = LimiterConfig {
            max_concurrency: max,
            ..config
        };
        Arc::new(TenantLimiter {
            rules: config.pace_rules(),
            config,
            semaphore: Arc::new(Semaphore::new(cap)),
            local: Mutex::new(Concurrency {
                cap,
                debt: 0,
                successes: 0,
                last_decrease: None,
                throttled: 0,
            }),
            pace,
            fair: Mutex::new(fair::FairQueue::default()),
        })
    }

    /// The limiter of `(exchange_base, tenant, app_id)`, shared
    /// process-wide while any connection uses it, its pacing shared as
    /// `sharing` says.
    pub fn shared(
        exchange_base: &str,
        tenant: &str,
        app_id: &str,
        config: LimiterConfig,
        sharing: &PaceSharing,
    ) -> Arc<Self> {
        static REGISTRY: LazyLock<Registry<(String, String, String), TenantLimiter>> =
            LazyLock::new(Registry::default);
        let key = (
            exchange_base.to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
        );
        let name = format!("{}\n{}\n{}", key.0, key.1, key.2);
        REGISTRY.get_or_make(key, || {
            let store: Box<dyn PaceStore> = match sharing {
                PaceSharing::Process => Box::new(InProcess::default()),
                PaceSharing::Store(maker) => maker.make(&name, config.pace_rules()),
                PaceSharing::Folder(dir) => match SharedFile::open(dir, &name, config.pace_rules()) {
                    Ok(file) => Box::new(file),
                    Err(e) => {
                        tracing::warn!(
                            folder = %dir.display(),
                            error = %e,
                            "cannot share the tenant limiter with other exorun processes; pacing this process alone"
                        );
                        Box::new(InProcess::default())
                    }
                },
            };
            TenantLimiter::with_store(config, store)
        })
    }

    /// Waits for a concurrency slot and for this request's pacing slot,
    /// as a send of the run it is made for ([`exorun_cmdlet::run_share`]).
    pub async fn acquire(self: &Arc<Self>) -> LimiterPermit {
        self.acquire_as(exorun_cmdlet::run_share()).await
    }

    /// [`Self::acquire`] for the run `share`.
    pub async fn acquire_as(self: &Arc<Self>, share: RunShare) -> LimiterPermit {
        // The semaphore is never closed; if it were, go on unlimited rather
        // than fail a call.
        let permit = Arc::clone(&self.semaphore).acquire_owned().await.ok();
        let permit = LimiterPermit {
            limiter: Arc::clone(self),
            permit,
            settled: false,
        };
        if !self.config.fair_sharing {
            let wait = self.reserve();
            // Unpaced requests skip the timer entirely: the common case.
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            return permit;
        }
        let queued = {
            let mut fair = self.fair.lock();
            if fair.is_idle() {
                // Nobody waits: this send takes the next slot itself. Until
                // it has, later sends queue behind it.
                fair.sleeping += 1;
                None
            } else {
                let heard = fair.push(share);
                if !fair.dispatching {
                    fair.dispatching = true;
                    tokio::spawn(Arc::clone(self).dispatch());
                }
                Some(heard)
            }
        };
        match queued {
            None => {
                // Counted down however this future ends (a run cancelled
                // mid-wait must not leave the queue thinking it sleeps).
                // The slot is taken outside the queue's lock: a shared
                // pacing file may make it wait for another process.
                let _awake = Awake(self);
                let wait = self.reserve();
                // Unpaced requests skip the timer entirely: the common case.
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            Some(heard) => {
                // An error means the dispatcher is gone (the runtime is
                // shutting down): go rather than hang.
                let _ = heard.await;
            }
        }
        permit
    }

    /// Takes the next pacing slot; how long until it comes.
    fn reserve(&self) -> Duration {
        let mut slot = 0;
        let mut now = 0;
        self.pace.update(&mut |s, at| {
            now = at;
            slot = s.reserve(at, &self.rules);
        });
        Duration::from_nanos(slot.saturating_sub(now))
    }

    /// Hands pacing slots to the waiting sends, one at a time and in fair
    /// order, until none waits.
    async fn dispatch(self: Arc<Self>) {
        loop {
            let next = {
                let mut fair = self.fair.lock();
                let next = fair.pop();
                if next.is_none() {
                    fair.dispatching = false;
                }
                next
            };
            let Some(wake) = next else {
                return;
            };
            let wait = self.reserve();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let _ = wake.send(());
        }
    }

    /// Learns from one answer and settles its send.
    fn learn(&self, status: u16, retry_after: Option<Duration>, headers: &HeaderMap) {
        let reading = {
            let mut s = self.local.lock();
            if status == 429 {
                self.lower_concurrency(&mut s, retry_after);
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
            rate_reading(headers)
        };
        self.pace.update(&mut |p, now| {
            if status == 429 {
                p.throttled(now, retry_after, &self.rules);
            } else if (200..300).contains(&status) {
                p.succeeded(now, &self.rules);
            }
            if status == 429 {
                tracing::debug!(
                    tokens = p.tokens,
                    rate = p.rate,
                    share = p.share,
                    remaining = reading.map(|r| r.remaining),
                    window = reading.map(|r| r.window),
                    "throttled: the tenant's budget is spent"
                );
            }
            if let Some(reading) = reading {
                p.read_rate(now, reading, &self.rules);
            }
            p.settled();
        });
    }

    /// A throttling answer that did not come as a 429 (an error text).
    pub fn throttled_by(&self, retry_after: Option<Duration>) {
        self.lower_concurrency(&mut self.local.lock(), retry_after);
        self.pace
            .update(&mut |p, now| p.throttled(now, retry_after, &self.rules));
    }

    fn lower_concurrency(&self, s: &mut Concurrency, retry_after: Option<Duration>) {
        s.throttled += 1;
        s.successes = 0;
        let now = std::time::Instant::now();
        let wait = retry_after
            .unwrap_or(Duration::from_secs(1))
            .min(self.config.max_hold);
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
    }

    /// Current concurrency cap.
    pub fn concurrency(&self) -> usize {
        self.local.lock().cap
    }

    /// The shared pacing state.
    pub fn pace_state(&self) -> PaceState {
        self.pace.read()
    }

    /// 429 answers this process has seen.
    pub fn throttled(&self) -> u64 {
        self.local.lock().throttled
    }
}

/// What one answer's rate headers say, if it has them.
fn rate_reading(headers: &HeaderMap) -> Option<RateReading> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let remaining = number("Rate-Limit-Remaining")?;
    let window = headers
        .get("Rate-Limit-Reset")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_iso8601_utc)
        .and_then(|reset| reset.duration_since(SystemTime::now()).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Some(RateReading {
        remaining,
        limit: number("Rate-Limit-Limit"),
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::Instant;

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
        l.acquire()
            .await
            .observe(429, Some(Duration::from_millis(1)), &HeaderMap::new());
        assert_eq!(l.concurrency(), 4);
        for _ in 0..4 {
            l.acquire().await.observe(200, None, &HeaderMap::new());
        }
        assert_eq!(l.concurrency(), 5);
    }

    #[tokio::test]
    async fn the_headers_teach_the_budget_and_sends_past_it_wait_for_refills() {
        let l = TenantLimiter::new(LimiterConfig {
            safety: 1.0,
            ..LimiterConfig::default()
        });
        assert!(!l.pace_state().paced());
        // 100 used of 102, whole again in 10 s: 10 per second, 2 left.
        l.acquire()
            .await
            .observe(200, None, &headers(102, 2, Duration::from_secs(10)));
        let state = l.pace_state();
        // The reset header has whole seconds: the window is (9, 10] s.
        assert!((10.0..=11.2).contains(&state.rate), "{}", state.rate);
        assert_eq!(state.burst, 102.0);
        let start = Instant::now();
        for _ in 0..3 {
            drop(l.acquire().await);
        }
        // Two tokens were left; the third send waited about 0.1 s.
        assert!(start.elapsed() >= Duration::from_millis(80));
    }

    /// Ten sends of a busy run wait for slots at 20 a second; then a
    /// quiet run sends once. Returns the quiet send's place among the
    /// eleven in the order they were let through.
    async fn place_of_a_late_send(fair_sharing: bool) -> usize {
        let l = TenantLimiter::new(LimiterConfig {
            safety: 1.0,
            fair_sharing,
            ..LimiterConfig::default()
        });
        // The budget is spent and refills at about 20 a second (the reset
        // header has whole seconds: 200 in (9, 10] s).
        l.acquire()
            .await
            .observe(200, None, &headers(200, 0, Duration::from_secs(10)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let send = |share: RunShare, name: &'static str| {
            let l = Arc::clone(&l);
            let order = Arc::clone(&order);
            tokio::spawn(async move {
                let _permit = l.acquire_as(share).await;
                order.lock().push(name);
            })
        };
        let busy = RunShare::new_run(1);
        let mut tasks: Vec<_> = (0..10).map(|_| send(busy, "busy")).collect();
        // Let the busy run's sends queue up.
        tokio::time::sleep(Duration::from_millis(15)).await;
        tasks.push(send(RunShare::new_run(1), "quiet"));
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock();
        order.iter().position(|n| *n == "quiet").unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quiet_runs_send_goes_ahead_of_a_busy_runs_backlog() {
        // In arrival order it is last; in fair order it goes next, after
        // the slots already handed out when it arrived (one or two at 50 ms
        // a slot; the bound leaves room for a stalled machine).
        assert_eq!(place_of_a_late_send(false).await, 10);
        let place = place_of_a_late_send(true).await;
        assert!(place <= 6, "the quiet send went {}th of 11", place + 1);
    }

    #[tokio::test]
    async fn retry_after_holds_every_request() {
        let l = TenantLimiter::new(LimiterConfig::default());
        l.acquire()
            .await
            .observe(429, Some(Duration::from_millis(200)), &HeaderMap::new());
        let start = Instant::now();
        let _p = l.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(190));
    }

    #[tokio::test]
    async fn two_limiters_on_one_folder_share_the_hold_and_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let sharing = PaceSharing::Folder(dir.path().to_path_buf());
        let open = || {
            let store =
                SharedFile::open(dir.path(), "tenant", LimiterConfig::default().pace_rules())
                    .unwrap();
            TenantLimiter::with_store(LimiterConfig::default(), Box::new(store))
        };
        let (a, b) = (open(), open());
        a.acquire()
            .await
            .observe(429, Some(Duration::from_millis(200)), &HeaderMap::new());
        assert_eq!(b.pace_state().throttled, 1);
        let start = Instant::now();
        let _p = b.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(190));
        assert_eq!(b.throttled(), 0, "the 429 was a's own");
        // The registry hands one limiter per tenant and app, and another
        // app gets its own.
        let x = TenantLimiter::shared("https://h", "t", "app", LimiterConfig::default(), &sharing);
        let y = TenantLimiter::shared("https://H", "T", "APP", LimiterConfig::default(), &sharing);
        let z = TenantLimiter::shared(
            "https://h",
            "t",
            "other",
            LimiterConfig::default(),
            &sharing,
        );
        assert!(Arc::ptr_eq(&x, &y));
        assert!(!Arc::ptr_eq(&x, &z));
    }
}

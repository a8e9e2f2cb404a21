//! The pacing half of the tenant limiter, as plain data and rules: what
//! every client of one tenant and app shares, wherever it runs.
//!
//! The tenant throttles the app as a whole, so the schedule of sends is one
//! schedule however many runs, processes or machines send. It is kept in
//! wall-clock nanoseconds (processes share no `Instant`), and every rule
//! here is a pure function of the state and "now", so the same rules run
//! under a mutex in one process, under a file lock between processes
//! ([`super::store`]), or in a compare-and-swap loop on a shared store.
//!
//! - **A mirror of the tenant's bucket.** The `Rate-Limit-*` headers say
//!   how large the app's budget is (`Limit`), how much is left
//!   (`Remaining`) and when it is whole again (`Reset`), which gives the
//!   refill rate. The state keeps its own copy of that bucket: every send
//!   takes a token from it *before* it goes (so requests in flight, of any
//!   process, are already counted), tokens come back at the refill rate
//!   times a safety factor, and a send that finds none waits for its
//!   token, in order (the count may go below zero: those are the sends
//!   queued for future tokens). An answer only ever lowers the copy to
//!   what the tenant says is left: someone else (another machine, another
//!   tool) spent it.
//! - **A hold**: a `Retry-After` stops every send until it has passed.
//! - **A share** (AIMD): a 429 multiplies the refill rate by `decrease`
//!   (once per hold, so a burst of 429s is one signal); every second
//!   without one adds `recovery_per_second` back. Clients that do not share
//!   this state but see the same 429s settle near an equal share of the
//!   budget each, instead of one starving the others.
//!
//! Until the first answer with rate headers the budget is unknown and
//! sends are not paced (only held).

use std::time::Duration;

/// Tuning of the pacing rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceRules {
    /// Fraction of the implied refill rate to use.
    pub safety: f64,
    /// The longest a `Retry-After` holds every send.
    pub max_hold: Duration,
    /// Multiplier of the share on throttling.
    pub decrease: f64,
    /// Share regained per second without throttling.
    pub recovery_per_second: f64,
    /// The share never falls below this.
    pub min_share: f64,
}

/// The shared state. Times are Unix nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceState {
    /// Tokens in the mirrored bucket at `tokens_at`; negative when sends
    /// are queued for tokens still to come.
    pub tokens: f64,
    pub tokens_at: u64,
    /// Refill rate the headers imply, per second; zero while unknown.
    pub rate: f64,
    /// Bucket size (`Rate-Limit-Limit`); zero while unknown.
    pub burst: f64,
    /// No send before this (a `Retry-After`).
    pub blocked_until: u64,
    /// This group's share of the refill rate, in `[min_share, 1]`.
    pub share: f64,
    pub last_decrease: u64,
    pub last_increase: u64,
    /// 429 answers seen by everyone sharing this state.
    pub throttled: u64,
    /// Sends that took a slot and have not been answered yet, of everyone
    /// sharing this state: they are spent in the mirror but not yet in the
    /// `Remaining` an answer reports, so an answer is read as `Remaining −
    /// pending`.
    pub pending: u64,
    /// The last send of anyone sharing this state: `pending` is forgotten
    /// after a minute without one (a process that died mid-request never
    /// settles its sends).
    pub last_send: u64,
}

impl Default for PaceState {
    fn default() -> Self {
        PaceState {
            tokens: 0.0,
            tokens_at: 0,
            rate: 0.0,
            burst: 0.0,
            blocked_until: 0,
            share: 1.0,
            last_decrease: 0,
            last_increase: 0,
            throttled: 0,
            pending: 0,
            last_send: 0,
        }
    }
}

/// What the rate headers of one answer say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateReading {
    pub remaining: f64,
    pub limit: Option<f64>,
    /// Seconds until the budget is whole again.
    pub window: f64,
}

const SECOND: f64 = 1e9;
/// Nothing in a state is believed further ahead than this (a corrupt
/// file, or a clock stepped back).
const HORIZON: u64 = 120_000_000_000;
/// Sends queued for future tokens are never more than this many seconds
/// of refill deep: a wrong rate must not park a run for hours.
const MAX_QUEUE_SECONDS: f64 = 60.0;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl PaceState {
    /// Whether the budget is known (an answer with rate headers came).
    pub fn paced(&self) -> bool {
        self.rate > 0.0
    }

    /// Tokens per second this group may spend.
    fn refill_rate(&self, rules: &PaceRules) -> f64 {
        (self.rate * rules.safety * self.share).max(1e-3)
    }

    /// Brings the mirrored bucket up to `now`.
    fn refill(&mut self, now: u64, rules: &PaceRules) {
        if now > self.tokens_at {
            let seconds = (now - self.tokens_at) as f64 / SECOND;
            self.tokens = (self.tokens + seconds * self.refill_rate(rules)).min(self.burst);
            self.tokens_at = now;
        }
    }

    /// Takes the next send slot at `now`; returns it.
    pub fn reserve(&mut self, now: u64, rules: &PaceRules) -> u64 {
        let mut slot = now.max(self.blocked_until);
        self.pending = self.pending.saturating_add(1);
        self.last_send = now;
        if self.paced() {
            self.refill(now, rules);
            self.tokens -= 1.0;
            if self.tokens < 0.0 {
                let wait = (-self.tokens / self.refill_rate(rules)).min(MAX_QUEUE_SECONDS);
                slot = slot.max(now.saturating_add((wait * SECOND) as u64));
            }
        }
        slot
    }

    /// A send is over, answered or not.
    pub fn settled(&mut self) {
        self.pending = self.pending.saturating_sub(1);
    }

    /// A 429 (or a throttling error) with the server's wait.
    pub fn throttled(&mut self, now: u64, retry_after: Option<Duration>, rules: &PaceRules) {
        self.throttled = self.throttled.saturating_add(1);
        let wait = retry_after
            .unwrap_or(Duration::from_secs(1))
            .min(rules.max_hold);
        self.blocked_until = self.blocked_until.max(now.saturating_add(nanos(wait)));
        let quiet = nanos(wait.max(Duration::from_millis(100)));
        if now >= self.last_decrease.saturating_add(quiet) {
            if self.paced() {
                self.refill(now, rules);
            }
            self.share = (self.share * rules.decrease).max(rules.min_share);
            self.last_decrease = now;
        }
        // The tenant has nothing left for us.
        self.tokens = self.tokens.min(0.0);
        self.last_increase = now;
    }

    /// A successful answer: the share recovers with time.
    pub fn succeeded(&mut self, now: u64, rules: &PaceRules) {
        if self.share < 1.0 {
            if self.paced() {
                self.refill(now, rules);
            }
            let seconds = now.saturating_sub(self.last_increase) as f64 / SECOND;
            self.share = (self.share + seconds * rules.recovery_per_second).min(1.0);
        }
        self.last_increase = now;
    }

    /// Learns the budget from one answer's rate headers, and lowers the
    /// mirror to what the tenant says is left (less the sends it has not
    /// counted yet). Called before this answer's send is settled.
    pub fn read_rate(&mut self, now: u64, reading: RateReading, rules: &PaceRules) {
        let uncounted = self.pending.saturating_sub(1) as f64;
        let left = reading.remaining - uncounted;
        let limit = reading.limit.filter(|l| *l >= 1.0);
        let used = limit
            .map(|l| (l - reading.remaining).max(0.0))
            .unwrap_or(0.0);
        if reading.window > 0.0 && used > 0.0 {
            let first = !self.paced();
            self.rate = used / reading.window;
            self.burst = limit.unwrap_or(reading.remaining).max(1.0);
            if first {
                self.tokens = left;
                self.tokens_at = now;
                return;
            }
        }
        if self.paced() {
            self.refill(now, rules);
            self.tokens = self.tokens.min(left);
        }
    }

    /// Repairs what cannot be right at `now`: times too far ahead, numbers
    /// that are not numbers. Run on every state read from outside the
    /// process.
    pub fn sanitize(&mut self, now: u64, rules: &PaceRules) {
        let horizon = now.saturating_add(HORIZON);
        let hold = now.saturating_add(nanos(rules.max_hold));
        if self.blocked_until > hold {
            self.blocked_until = hold;
        }
        if !(self.share.is_finite() && (rules.min_share..=1.0).contains(&self.share)) {
            self.share = 1.0;
        }
        let sane_rate = self.rate.is_finite() && self.rate >= 0.0 && self.rate < 1e9;
        let sane_burst = self.burst.is_finite() && self.burst >= 0.0 && self.burst < 1e12;
        if !(sane_rate && sane_burst && self.tokens.is_finite()) || self.tokens_at > horizon {
            // Forget the budget; the next answer teaches it again.
            self.rate = 0.0;
            self.burst = 0.0;
            self.tokens = 0.0;
            self.tokens_at = now;
        }
        if self.last_send > horizon || now > self.last_send.saturating_add(60_000_000_000) {
            self.pending = 0;
            self.last_send = self.last_send.min(now);
        }
        if self.paced() {
            let deepest = -MAX_QUEUE_SECONDS * self.refill_rate(rules);
            self.tokens = self.tokens.clamp(deepest, self.burst);
        }
        for t in [&mut self.last_decrease, &mut self.last_increase] {
            if *t > horizon {
                *t = now;
            }
        }
    }

    /// The fixed-size record a shared file holds.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..8].copy_from_slice(MAGIC);
        let fields = [
            self.tokens.to_bits(),
            self.tokens_at,
            self.rate.to_bits(),
            self.burst.to_bits(),
            self.blocked_until,
            self.share.to_bits(),
            self.last_decrease,
            self.last_increase,
            self.throttled,
            self.pending,
            self.last_send,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// A record written by [`Self::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<PaceState> {
        if bytes.len() < RECORD_LEN || &bytes[..8] != MAGIC {
            return None;
        }
        let field = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[8 + i * 8..16 + i * 8]);
            u64::from_le_bytes(b)
        };
        Some(PaceState {
            tokens: f64::from_bits(field(0)),
            tokens_at: field(1),
            rate: f64::from_bits(field(2)),
            burst: f64::from_bits(field(3)),
            blocked_until: field(4),
            share: f64::from_bits(field(5)),
            last_decrease: field(6),
            last_increase: field(7),
            throttled: field(8),
            pending: field(9),
            last_send: field(10),
        })
    }
}

#[cfg(test)]
impl PaceRules {
    /// No safety margin, so that tests can compute slots exactly.
    pub(crate) fn exact() -> PaceRules {
        PaceRules {
            safety: 1.0,
            max_hold: Duration::from_secs(30),
            decrease: 0.5,
            recovery_per_second: 0.25,
            min_share: 1.0 / 32.0,
        }
    }
}

/// Size of an encoded state.
pub const RECORD_LEN: usize = 96;
const MAGIC: &[u8; 8] = b"EXOPACE2";

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PaceRules {
        PaceRules::exact()
    }

    const MS: u64 = 1_000_000;

    /// A bucket of 500, refilling at 500 per second, with `remaining` left.
    fn reading(remaining: f64) -> RateReading {
        RateReading {
            remaining,
            limit: Some(500.0),
            window: (500.0 - remaining) / 500.0,
        }
    }

    #[test]
    fn until_the_budget_is_known_sends_are_only_held() {
        let r = rules();
        let mut s = PaceState::default();
        assert_eq!(s.reserve(1000 * MS, &r), 1000 * MS);
        assert_eq!(s.reserve(1000 * MS, &r), 1000 * MS);
        s.throttled(1000 * MS, Some(Duration::from_millis(200)), &r);
        assert_eq!(s.reserve(1000 * MS, &r), 1200 * MS);
    }

    #[test]
    fn sends_spend_the_mirrored_bucket_then_queue_one_refill_apart() {
        let r = rules();
        let mut s = PaceState::default();
        s.read_rate(0, reading(2.0), &r);
        assert_eq!(s.rate, 500.0);
        assert_eq!(s.burst, 500.0);
        // Two tokens left: two sends now, then one every 2 ms.
        let slots: Vec<u64> = (0..5).map(|_| s.reserve(0, &r) / MS).collect();
        assert_eq!(slots, [0, 0, 2, 4, 6]);
        // Half the share: twice the spacing for the next one.
        s.share = 0.5;
        assert_eq!(s.reserve(0, &r) / MS, 16);
    }

    #[test]
    fn sends_not_yet_answered_count_against_what_an_answer_says_is_left() {
        let r = rules();
        let mut s = PaceState::default();
        for _ in 0..20 {
            s.reserve(0, &r);
        }
        // One send settled without headers, then the first with them
        // (still pending itself): 18 others are out.
        s.settled();
        s.read_rate(0, reading(100.0), &r);
        s.settled();
        assert_eq!(s.tokens, 82.0);
        assert_eq!(s.pending, 18);
        // A later answer lowers the mirror by what is still out: the 18,
        // and one more send.
        s.reserve(0, &r);
        s.read_rate(0, reading(90.0), &r);
        assert_eq!(s.tokens, 90.0 - 18.0);
    }

    #[test]
    fn an_answer_only_lowers_the_mirror() {
        let r = rules();
        let mut s = PaceState::default();
        s.read_rate(0, reading(100.0), &r);
        assert_eq!(s.tokens, 100.0);
        // Someone else spent most of it.
        s.read_rate(0, reading(10.0), &r);
        assert_eq!(s.tokens, 10.0);
        // An answer saying more is left (our own sends in flight were not
        // counted yet) does not raise it.
        s.read_rate(0, reading(50.0), &r);
        assert_eq!(s.tokens, 10.0);
        // Time refills it, never past the bucket's size.
        s.read_rate(10_000 * MS, reading(499.0), &r);
        assert_eq!(s.tokens, 499.0);
        s.read_rate(20_000 * MS, reading(499.0), &r);
        assert_eq!(s.tokens, 499.0);
    }

    #[test]
    fn a_burst_of_429s_halves_the_share_once_and_time_restores_it() {
        let r = rules();
        let mut s = PaceState::default();
        let wait = Some(Duration::from_millis(200));
        s.throttled(1000 * MS, wait, &r);
        s.throttled(1001 * MS, wait, &r);
        s.throttled(1100 * MS, wait, &r);
        assert_eq!(s.share, 0.5);
        assert_eq!(s.throttled, 3);
        assert_eq!(s.blocked_until, 1300 * MS);
        // After the hold, another 429 is a new signal.
        s.throttled(1300 * MS, wait, &r);
        assert_eq!(s.share, 0.25);
        // One second without throttling adds a quarter.
        s.succeeded(2300 * MS, &r);
        assert!((s.share - 0.5).abs() < 1e-9, "{}", s.share);
        s.succeeded(5300 * MS, &r);
        assert_eq!(s.share, 1.0);
        // Never below the floor.
        for i in 0..20 {
            s.throttled((10_000 + i * 1000) * MS, wait, &r);
        }
        assert_eq!(s.share, 1.0 / 32.0);
    }

    #[test]
    fn encoding_round_trips_and_garbage_is_refused() {
        let s = PaceState {
            tokens: -2.5,
            tokens_at: 1,
            rate: 500.0,
            burst: 500.0,
            blocked_until: 2,
            share: 0.375,
            last_decrease: 5,
            last_increase: 6,
            throttled: 7,
            pending: 8,
            last_send: 9,
        };
        assert_eq!(PaceState::decode(&s.encode()), Some(s));
        assert_eq!(PaceState::decode(b"EXOPACE2"), None);
        assert_eq!(PaceState::decode(&[0u8; RECORD_LEN]), None);
    }

    #[test]
    fn sanitize_forgets_what_cannot_be_right() {
        let r = rules();
        let now = 1_000 * 1_000 * MS;
        let mut s = PaceState {
            tokens: f64::NAN,
            tokens_at: 0,
            rate: 500.0,
            burst: 500.0,
            blocked_until: u64::MAX,
            share: f64::NAN,
            last_decrease: u64::MAX,
            last_increase: 0,
            throttled: 9,
            pending: 500,
            last_send: 1,
        };
        s.sanitize(now, &r);
        assert!(!s.paced());
        assert_eq!(s.blocked_until, now + 30_000 * MS);
        assert_eq!(s.share, 1.0);
        assert_eq!(s.last_decrease, now);
        assert_eq!(s.throttled, 9);
        assert_eq!(s.pending, 0, "no send for a minute: forgotten");
        // A queue deeper than a minute of refill is cut to a minute.
        let mut deep = PaceState {
            tokens: -1e9,
            tokens_at: now,
            ..PaceState::default()
        };
        deep.rate = 10.0;
        deep.burst = 10.0;
        deep.sanitize(now, &r);
        assert_eq!(deep.tokens, -600.0);
    }
}

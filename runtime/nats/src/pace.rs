//! The tenant limiter's pacing state in a JetStream key-value bucket:
//! read, changed by the limiter's rules, and written back only if nobody
//! wrote it meanwhile (compare-and-swap on the key's revision), else read
//! again. Every client of one tenant and app, on any machine, therefore
//! takes its sending slots from one schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use exorun_exchange::client::limiter::pace::{PaceRules, PaceState};
use exorun_exchange::client::limiter::{PaceStore, PaceStoreMaker, unix_nanos};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::link::{LinkError, NatsLink};

/// The bucket the pacing states live in.
pub const PACE_BUCKET: &str = "exorun_pace";

/// How long one request to NATS may take before this client paces alone.
const PATIENCE: Duration = Duration::from_millis(250);

/// After NATS failed, how long this client paces alone before asking it
/// again.
const PAUSE: Duration = Duration::from_secs(1);

/// Lost races before giving up on one update (and pacing alone for it):
/// only many clients changing the key in the same instant lose this often.
const MAX_ATTEMPTS: usize = 32;

/// One tenant and app's pacing state, shared through NATS.
pub struct NatsPace {
    link: NatsLink,
    key: String,
    rules: PaceRules,
    /// The last state seen, which this client paces on while NATS cannot
    /// be reached; the lock also orders this process's own updates.
    local: Mutex<PaceState>,
    /// Until when NATS is not asked (after it failed).
    paused_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
}

impl NatsPace {
    /// The shared state of `name` (the Exchange base, tenant and app).
    pub fn new(link: NatsLink, name: &str, rules: PaceRules) -> NatsPace {
        NatsPace {
            link,
            key: format!(
                "pace.{}",
                hex::encode(&Sha256::digest(name.as_bytes())[..16])
            ),
            rules,
            local: Mutex::new(PaceState::default()),
            paused_until: Mutex::new(None),
            warned: AtomicBool::new(false),
        }
    }

    /// The key the state is kept under.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn paused(&self) -> bool {
        let mut until = self.paused_until.lock();
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn pause(&self, error: &LinkError) {
        *self.paused_until.lock() = Some(Instant::now() + PAUSE);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %error, "cannot reach the shared limiter state in NATS: pacing this process alone while that lasts");
        }
    }

    /// One compare-and-swap round: read, change, write if unchanged.
    fn try_update(
        &self,
        change: &mut dyn FnMut(&mut PaceState, u64),
    ) -> Result<PaceState, LinkError> {
        let (value, revision) = self.link.get(&self.key)?;
        let now = unix_nanos();
        let mut state = value
            .as_deref()
            .and_then(PaceState::decode)
            .unwrap_or_default();
        state.sanitize(now, &self.rules);
        change(&mut state, now);
        self.link
            .update(&self.key, Bytes::copy_from_slice(&state.encode()), revision)?;
        Ok(state)
    }
}

impl PaceStore for NatsPace {
    fn update(&self, change: &mut dyn FnMut(&mut PaceState, u64)) {
        let mut local = self.local.lock();
        if !self.paused() {
            for _ in 0..MAX_ATTEMPTS {
                match self.try_update(change) {
                    Ok(state) => {
                        if self.warned.swap(false, Ordering::Relaxed) {
                            tracing::info!("the shared limiter state in NATS is reachable again");
                        }
                        *local = state;
                        return;
                    }
                    Err(LinkError::Conflict) => continue,
                    Err(e) => {
                        self.pause(&e);
                        break;
                    }
                }
            }
        }
        let now = unix_nanos();
        local.sanitize(now, &self.rules);
        change(&mut local, now);
    }
}

/// Makes a [`NatsPace`] for each tenant and app, over one link.
#[derive(Clone)]
pub struct NatsPaceMaker {
    link: NatsLink,
    url: String,
}

impl NatsPaceMaker {
    /// A maker whose stores share one connection to `url`.
    pub fn start(url: &str) -> std::io::Result<NatsPaceMaker> {
        Ok(NatsPaceMaker {
            link: NatsLink::start(url, PACE_BUCKET, PATIENCE)?,
            url: url.to_owned(),
        })
    }
}

impl std::fmt::Debug for NatsPaceMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NATS {}", self.url)
    }
}

impl PaceStoreMaker for NatsPaceMaker {
    fn make(&self, name: &str, rules: PaceRules) -> Box<dyn PaceStore> {
        Box::new(NatsPace::new(self.link.clone(), name, rules))
    }
}

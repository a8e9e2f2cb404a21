//! Everything the request handlers share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use exorun_sim_tenant::{Execution, Tenant};

use crate::config::{AssertionReuse, AudiencePolicy, TokenLifetime};
use crate::directory::Directory;
use crate::entra::replay::ReplayGuard;
use crate::exchange::bearer::BearerValidator;
use crate::exchange::paging::PageCache;
use crate::exchange::throttle::Throttle;
use crate::faults::FaultHandle;
use crate::signing_key::SigningKey;

/// Request counters, for tests that assert how often a client called.
#[derive(Default)]
pub struct Counters {
    token: AtomicU64,
    invoke: AtomicU64,
}

impl Counters {
    pub fn count_token_request(&self) {
        self.token.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_invoke_request(&self) {
        self.invoke.fetch_add(1, Ordering::Relaxed);
    }
    pub fn token_requests(&self) -> u64 {
        self.token.load(Ordering::Relaxed)
    }
    pub fn invoke_requests(&self) -> u64 {
        self.invoke.load(Ordering::Relaxed)
    }
}

pub struct SimState {
    pub port: u16,
    pub directory: Directory,
    pub tenant: Arc<Tenant>,
    pub signing_key: SigningKey,
    pub token_lifetime: TokenLifetime,
    pub assertion_reuse: AssertionReuse,
    pub audience_policy: AudiencePolicy,
    pub require_anchor_mailbox: bool,
    pub replay: ReplayGuard,
    pub bearer: BearerValidator,
    pub throttle: Throttle,
    pub pages: PageCache<Execution>,
    pub faults: FaultHandle,
    pub counters: Counters,
    /// What `/_sim/faults` wants as its bearer (see `admin`).
    pub control_key: String,
}

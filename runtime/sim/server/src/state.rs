//! What both halves of the simulator share: the tenant and its directory,
//! the token-signing key, fault injection and the request counters. Each
//! half keeps its own state beside it (`entra::EntraState`,
//! `exchange::ExchangeState`), so neither half depends on the other's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use exorun_sim_tenant::Tenant;

use crate::directory::Directory;
use crate::faults::FaultHandle;
use crate::signing_key::SigningKey;

/// Request counters, for tests that assert how often a client called.
#[derive(Default)]
pub struct Counters {
    token: AtomicU64,
    invoke: AtomicU64,
    throttled: AtomicU64,
    graph: AtomicU64,
    identity: AtomicU64,
}

impl Counters {
    pub fn count_token_request(&self) {
        self.token.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_invoke_request(&self) {
        self.invoke.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_graph_request(&self) {
        self.graph.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_identity_request(&self) {
        self.identity.fetch_add(1, Ordering::Relaxed);
    }
    /// Microsoft Graph requests, any outcome.
    pub fn graph_requests(&self) -> u64 {
        self.graph.load(Ordering::Relaxed)
    }
    /// Managed identity endpoint requests, any outcome.
    pub fn identity_requests(&self) -> u64 {
        self.identity.load(Ordering::Relaxed)
    }
    pub fn token_requests(&self) -> u64 {
        self.token.load(Ordering::Relaxed)
    }
    pub fn invoke_requests(&self) -> u64 {
        self.invoke.load(Ordering::Relaxed)
    }
    /// InvokeCommand requests answered with a 429 (budget, concurrency or
    /// an injected throttle).
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

pub struct Shared {
    pub port: u16,
    pub directory: Directory,
    pub tenant: Arc<Tenant>,
    pub signing_key: SigningKey,
    pub faults: FaultHandle,
    pub counters: Counters,
    /// What `/_sim/faults` wants as its bearer (see `admin`).
    pub control_key: String,
}

//! The process-wide access-token cache (docs/protocol.md, "Caching and refresh").
//!
//! Many automations run at once against one tenant; they must share one
//! token, and when it needs renewing exactly one of them may ask Entra for a
//! new one. The hot path is a read lock, an `Arc` clone and an `Instant`
//! compare; the refresh path is serialised by an async mutex so any number of
//! concurrent callers cause one token request.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::acquire::TokenAcquirer;
use super::token::{AccessToken, AuthError};
use crate::shared::Registry;

/// Identifies a cache: the same app asking the same authority for the same
/// scope in the same tenant gets the same token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenCacheKey {
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub scope: String,
}

impl TokenCacheKey {
    fn normalised(mut self) -> Self {
        self.authority = self.authority.to_ascii_lowercase();
        self.tenant = self.tenant.to_ascii_lowercase();
        self.client_id = self.client_id.to_ascii_lowercase();
        self.scope = self.scope.to_ascii_lowercase();
        self
    }
}

/// A shared, single-flight token cache for one [`TokenCacheKey`].
pub struct TokenCache {
    key: TokenCacheKey,
    acquirer: TokenAcquirer,
    current: RwLock<Option<Arc<AccessToken>>>,
    /// Held while a token request is in flight.
    refresh: tokio::sync::Mutex<()>,
    /// Counts finished token requests, successful or not.
    attempts: AtomicU64,
    /// The last failure and the attempt number it ended, so callers that
    /// queued behind a failing request share its error instead of each
    /// asking again.
    last_error: Mutex<Option<(u64, AuthError)>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("key", &self.key)
            .field("requests", &self.attempts.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub(crate) fn new(key: TokenCacheKey, acquirer: TokenAcquirer) -> Self {
        TokenCache {
            key,
            acquirer,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// The cache for `key`, shared by every connection in the process while
    /// any of them is alive; `make` builds it the first time.
    pub(crate) fn shared(key: TokenCacheKey, make: impl FnOnce() -> TokenAcquirer) -> Arc<Self> {
        static REGISTRY: LazyLock<Registry<TokenCacheKey, TokenCache>> =
            LazyLock::new(Registry::default);
        let key = key.normalised();
        REGISTRY.get_or_make(key.clone(), || Arc::new(TokenCache::new(key, make())))
    }

    pub fn key(&self) -> &TokenCacheKey {
        &self.key
    }

    /// Token requests made so far (for tests, benchmarks and `exorun status`).
    pub fn requests(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// The cached token if it is fresh: the fast path, no await, no lock
    /// other than an uncontended read lock.
    pub fn cached(&self) -> Option<Arc<AccessToken>> {
        let now = Instant::now();
        let guard = self.current.read();
        guard.as_ref().filter(|t| t.is_fresh(now)).cloned()
    }

    /// A token valid for a request now: cached, or fetched by exactly one
    /// caller while the others wait for its result.
    pub async fn token(&self) -> Result<Arc<AccessToken>, AuthError> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        // Past the refresh time but still valid: one caller refreshes, the
        // others keep using the current token rather than queueing.
        let current = self.current_token();
        if let Some(t) = current.as_ref().filter(|t| t.is_usable(Instant::now())) {
            match self.refresh.try_lock() {
                Ok(guard) => {
                    if let Some(fresh) = self.cached() {
                        return Ok(fresh);
                    }
                    return match self.fetch_locked(&guard).await {
                        Ok(fresh) => Ok(fresh),
                        Err(e) => {
                            tracing::warn!(error = %e, "proactive token refresh failed; using the current token until it expires");
                            Ok(Arc::clone(t))
                        }
                    };
                }
                Err(_) => return Ok(Arc::clone(t)),
            }
        }
        let seen = self.attempts.load(Ordering::Acquire);
        let guard = self.refresh.lock().await;
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        if self.attempts.load(Ordering::Acquire) != seen {
            // Someone else's request finished while we waited and left no
            // fresh token: it failed; share its error.
            let last = self.last_error.lock();
            if let Some((_, e)) = last.as_ref() {
                return Err(e.clone());
            }
        }
        self.fetch_locked(&guard).await
    }

    async fn fetch_locked(
        &self,
        _guard: &tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Arc<AccessToken>, AuthError> {
        let result = self.acquirer.acquire().await;
        let attempt = self.attempts.fetch_add(1, Ordering::AcqRel) + 1;
        match result {
            Ok(token) => {
                let token = Arc::new(token);
                *self.current.write() = Some(Arc::clone(&token));
                *self.last_error.lock() = None;
                Ok(token)
            }
            Err(e) => {
                *self.last_error.lock() = Some((attempt, e.clone()));
                Err(e)
            }
        }
    }

    fn current_token(&self) -> Option<Arc<AccessToken>> {
        self.current.read().clone()
    }

    /// Forgets the cached token: the next call fetches a new one.
    pub fn invalidate(&self) {
        *self.current.write() = None;
    }

    /// Forgets the cached token only if it is `stale`: after a 401, so that
    /// fifty requests failing with the same old token cause one refresh,
    /// not fifty.
    pub fn invalidate_if_current(&self, stale: &AccessToken) {
        let mut guard = self.current.write();
        if guard.as_ref().is_some_and(|t| t.id() == stale.id()) {
            *guard = None;
        }
    }
}

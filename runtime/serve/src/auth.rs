//! Proving who is calling: API tokens, dashboard passwords and sessions,
//! and the limit on login attempts.
//!
//! - API tokens are `exo_` and 32 random bytes (base64url). Only their
//!   SHA-256 is stored: a token has 256 bits of entropy, so a fast digest
//!   is enough and a stolen database signs nobody in.
//! - Passwords are hashed with argon2id (the crate's defaults, OWASP's
//!   minimum), verified in constant time by the crate.
//! - Sessions are 32 random bytes in an `HttpOnly`, `SameSite=Strict`
//!   cookie, stored as a digest, each with its own CSRF token that every
//!   request changing something must carry.
//! - Logins are limited per user name and per client address: after
//!   [`MAX_FAILURES`] failures for one name (or [`MAX_FAILURES_PER_ADDRESS`]
//!   from one address, which a team behind one proxy shares) in
//!   [`WINDOW`], further attempts are refused until the window passes,
//!   whether or not the password is right.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "exo_";
pub const SESSION_COOKIE: &str = "exorun_session";
pub const MAX_FAILURES: u32 = 5;
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(300);

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API token (shown once) and the digest to store.
pub fn new_token() -> (String, String) {
    let token = format!("{TOKEN_PREFIX}{}", random_text());
    let digest = digest(&token);
    (token, digest)
}

/// A new session id (for the cookie), its digest, and its CSRF token.
pub fn new_session() -> (String, String, String) {
    let id = random_text();
    let digest = digest(&id);
    (id, digest, random_text())
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    openssl::memcmp::eq(
        Sha256::digest(a.as_bytes()).as_slice(),
        Sha256::digest(b.as_bytes()).as_slice(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password must be at least 12 characters long")]
    TooShort,
    #[error("hashing the password: {0}")]
    Hash(String),
}

pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < 12 {
        return Err(PasswordError::TooShort);
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h: PasswordHash| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that an
/// unknown name takes as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-used").unwrap_or_default())
}

/// Failed logins per user name and per address.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    fn keys(user: &str, addr: IpAddr) -> [String; 2] {
        [
            format!("user:{}", user.to_ascii_lowercase()),
            format!("addr:{addr}"),
        ]
    }

    /// `Some(wait)` while attempts are refused.
    pub fn blocked(&self, user: &str, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock();
        failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        let [by_user, by_addr] = Self::keys(user, addr);
        [(by_user, MAX_FAILURES), (by_addr, MAX_FAILURES_PER_ADDRESS)]
            .iter()
            .filter_map(|(k, max)| failures.get(k).map(|f| (f, *max)))
            .filter(|((n, _), max)| n >= max)
            .map(|(f, _)| f)
            .map(|(_, since)| WINDOW.saturating_sub(now.duration_since(*since)))
            .max()
    }

    pub fn failed(&self, user: &str, addr: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock();
        for key in Self::keys(user, addr) {
            let entry = failures.entry(key).or_insert((0, now));
            entry.0 += 1;
        }
    }

    pub fn succeeded(&self, user: &str) {
        self.failures
            .lock()
            .remove(&format!("user:{}", user.to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterx", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let (a, da) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("exo_") && a.len() == 4 + 43, "{a}");
        assert_eq!(da, digest(&a));
        assert!(!da.contains(&a[4..]));
    }

    #[test]
    fn logins_are_refused_after_five_failures_for_a_name_or_twenty_from_an_address() {
        let limiter = LoginLimiter::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.blocked("alice", here), None);
            limiter.failed("alice", here);
        }
        assert!(limiter.blocked("alice", here).is_some());
        // The same name from elsewhere is refused; another name from here
        // is not, until the address has failed twenty times.
        assert!(limiter.blocked("ALICE", there).is_some());
        assert_eq!(limiter.blocked("bob", here), None);
        for i in MAX_FAILURES..MAX_FAILURES_PER_ADDRESS {
            assert_eq!(limiter.blocked(&format!("user{i}"), here), None);
            limiter.failed(&format!("user{i}"), here);
        }
        assert!(limiter.blocked("bob", here).is_some());
        assert_eq!(limiter.blocked("bob", there), None);
    }
}

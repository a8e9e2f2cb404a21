//! Refusing a client assertion seen before.
//!
//! Whether Entra rejects a replayed `jti` is unverified (docs/protocol.md, "Token request checks");
//! the simulator does, because a client that reuses assertions is buggy and
//! tests should catch it. Entries live until the assertion's `exp` (plus
//! clock skew); the set is bounded, oldest first out.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

/// Bounded memory of `(client_id, jti)` pairs with their expiry.
pub struct ReplayGuard {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    expiry: HashMap<(String, String), f64>,
    order: VecDeque<(String, String)>,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records the pair; false when it was already recorded and not expired.
    pub fn first_use(&self, client_id: &str, jti: &str, forget_after: f64, now: f64) -> bool {
        let mut seen = self.seen.lock();
        let key = (client_id.to_ascii_lowercase(), jti.to_owned());
        if let Some(&until) = seen.expiry.get(&key)
            && until > now
        {
            return false;
        }
        // Drop expired entries from the front, then make room if full.
        while let Some(front) = seen.order.front().cloned() {
            let expired = seen.expiry.get(&front).is_none_or(|&until| until <= now);
            if expired || seen.order.len() >= self.capacity {
                seen.order.pop_front();
                seen.expiry.remove(&front);
            } else {
                break;
            }
        }
        if seen.expiry.insert(key.clone(), forget_after).is_none() {
            seen.order.push_back(key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_the_second_time_until_it_expires() {
        let guard = ReplayGuard::new(10);
        assert!(guard.first_use("app", "j1", 100.0, 10.0));
        assert!(!guard.first_use("app", "j1", 100.0, 20.0));
        assert!(guard.first_use("other-app", "j1", 100.0, 20.0));
        assert!(guard.first_use("app", "j1", 200.0, 101.0));
    }

    #[test]
    fn the_set_stays_within_its_capacity() {
        let guard = ReplayGuard::new(3);
        for i in 0..10 {
            assert!(guard.first_use("app", &format!("j{i}"), 1e12, 0.0));
        }
        let seen = guard.seen.lock();
        assert!(seen.order.len() <= 3);
        assert_eq!(seen.order.len(), seen.expiry.len());
    }
}

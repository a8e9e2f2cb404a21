//! A process-wide map from a key to the one live value for it: how every
//! connection to the same app and tenant shares one token cache and one
//! limiter, without keeping either
//! alive after the last connection is gone.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

/// Values held weakly by key; dead entries are swept on every lookup, so the
/// map never grows beyond the values in use.
pub(crate) struct Registry<K, V> {
    entries: Mutex<HashMap<K, Weak<V>>>,
}

impl<K: Eq + Hash, V> Default for Registry<K, V> {
    fn default() -> Self {
        Registry {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> Registry<K, V> {
    /// The live value for `key`, or the one `make` builds (and registers)
    /// when there is none. `make` runs under the lock, so two callers never
    /// build two values for one key.
    pub(crate) fn get_or_make(&self, key: K, make: impl FnOnce() -> Arc<V>) -> Arc<V> {
        let mut entries = self.entries.lock();
        entries.retain(|_, weak| weak.strong_count() > 0);
        if let Some(value) = entries.get(&key).and_then(Weak::upgrade) {
            return value;
        }
        let value = make();
        entries.insert(key, Arc::downgrade(&value));
        value
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_key_while_it_is_alive_and_a_new_one_after() {
        let registry: Registry<&str, u32> = Registry::default();
        let first = registry.get_or_make("a", || Arc::new(1));
        let again = registry.get_or_make("a", || Arc::new(2));
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*again, 1);
        let other = registry.get_or_make("b", || Arc::new(3));
        assert_eq!(*other, 3);
        drop((first, again));
        let fresh = registry.get_or_make("a", || Arc::new(4));
        assert_eq!(*fresh, 4);
        drop((fresh, other));
        let _c = registry.get_or_make("c", || Arc::new(5));
        assert_eq!(registry.len(), 1, "dead entries are swept");
    }
}

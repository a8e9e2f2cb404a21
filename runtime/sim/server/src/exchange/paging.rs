//! Server-side paging (docs/protocol.md, "Paging"): `Prefer: odata.maxpagesize=N`
//! and opaque `$skiptoken`s that keep the cmdlet's result, not a copy of
//! the tenant, for the client to page through.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::RngCore;

/// The module's default and the service's maximum page size.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Reads `odata.maxpagesize` from a `Prefer` header. Values above 1000 are
/// capped at 1000; 0, negatives and junk are ignored (default 1000), as an
/// OData service ignores preferences it cannot honour.
pub fn max_page_size(prefer: Option<&str>) -> (usize, bool) {
    let Some(prefer) = prefer else {
        return (MAX_PAGE_SIZE, false);
    };
    for preference in prefer.split([',', ';']) {
        let Some((name, value)) = preference.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("odata.maxpagesize") {
            if let Ok(n) = value.trim().trim_matches('"').parse::<usize>()
                && n > 0
            {
                return (n.min(MAX_PAGE_SIZE), true);
            }
            return (MAX_PAGE_SIZE, false);
        }
    }
    (MAX_PAGE_SIZE, false)
}

/// Where a paged read stands: the result, the next offset, who may read it.
pub struct Cursor<E> {
    pub execution: Arc<E>,
    pub offset: usize,
    /// 1-based number of the page this cursor serves.
    pub page: u32,
    pub app_id: String,
    pub tenant: String,
    pub warnings_sent: bool,
}

impl<E> Clone for Cursor<E> {
    fn clone(&self) -> Self {
        Cursor {
            execution: Arc::clone(&self.execution),
            offset: self.offset,
            page: self.page,
            app_id: self.app_id.clone(),
            tenant: self.tenant.clone(),
            warnings_sent: self.warnings_sent,
        }
    }
}

/// Skip tokens with a time to live and a bound on their number. A token is
/// not consumed by use: a client whose connection broke may ask again.
pub struct PageCache<E> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries<E>>,
}

struct Entries<E> {
    by_token: HashMap<String, (Instant, Cursor<E>)>,
    order: VecDeque<String>,
}

impl<E> PageCache<E> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        PageCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(Entries {
                by_token: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Stores a cursor and returns its opaque token.
    pub fn insert(&self, cursor: Cursor<E>) -> String {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut entries = self.entries.lock();
        while let Some(front) = entries.order.front().cloned() {
            let expired = entries
                .by_token
                .get(&front)
                .is_none_or(|(expires, _)| *expires <= now);
            if expired || entries.order.len() >= self.capacity {
                entries.order.pop_front();
                entries.by_token.remove(&front);
            } else {
                break;
            }
        }
        entries
            .by_token
            .insert(token.clone(), (now + self.ttl, cursor));
        entries.order.push_back(token.clone());
        token
    }

    /// The cursor behind a live token.
    pub fn get(&self, token: &str) -> Option<Cursor<E>> {
        let entries = self.entries.lock();
        match entries.by_token.get(token) {
            Some((expires, cursor)) if *expires > Instant::now() => Some(cursor.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_header_values() {
        assert_eq!(max_page_size(None), (1000, false));
        assert_eq!(max_page_size(Some("odata.maxpagesize=250")), (250, true));
        assert_eq!(
            max_page_size(Some("odata.maxpagesize = 5000")),
            (1000, true)
        );
        assert_eq!(
            max_page_size(Some(
                "odata.include-annotations=\"*\", odata.maxpagesize=7;odata.continue-on-error"
            )),
            (7, true)
        );
        assert_eq!(max_page_size(Some("odata.maxpagesize=0")), (1000, false));
        assert_eq!(max_page_size(Some("odata.maxpagesize=abc")), (1000, false));
    }

    fn cursor(offset: usize) -> Cursor<Vec<u32>> {
        Cursor {
            execution: Arc::new(vec![1, 2, 3]),
            offset,
            page: 2,
            app_id: "app".into(),
            tenant: "t".into(),
            warnings_sent: true,
        }
    }

    #[test]
    fn tokens_live_until_their_ttl_and_can_be_reused() {
        let cache = PageCache::new(Duration::from_millis(50), 10);
        let token = cache.insert(cursor(1));
        assert_eq!(cache.get(&token).map(|c| c.offset), Some(1));
        assert_eq!(cache.get(&token).map(|c| c.offset), Some(1));
        assert!(cache.get("nonsense").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&token).is_none());
    }

    #[test]
    fn the_oldest_token_goes_when_full() {
        let cache = PageCache::new(Duration::from_secs(60), 2);
        let first = cache.insert(cursor(1));
        let second = cache.insert(cursor(2));
        let third = cache.insert(cursor(3));
        assert!(cache.get(&first).is_none());
        assert!(cache.get(&second).is_some());
        assert!(cache.get(&third).is_some());
    }
}

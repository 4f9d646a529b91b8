//! A small time-bounded cache for what the hot path reads per callback or
//! per job (a corp's keys and credentials) and changes rarely. Entries expire
//! after their time to live, and an edit forgets them at once on this node.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        TtlCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: K, value: V) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (Instant::now(), value));
    }

    pub(crate) fn forget(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::TtlCache;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let c = TtlCache::new(Duration::from_millis(30));
        c.put(1, "a");
        assert_eq!(c.get(&1), Some("a"));
        c.forget(&1);
        assert_eq!(c.get(&1), None);
        c.put(2, "b");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&2), None, "expired");
    }
}

//! The in-memory store: an LRU of answers bounded by entries and by bytes, each with a
//! fixed expiry, and an index from concrete path to keys for invalidation.
//!
//! An entry's size is the bytes of its key (method, path, input, agent), its body and its
//! header names and values. Inserting evicts least recently used entries until both
//! bounds hold. Expiry is fixed at insertion: a hit moves the entry up the LRU order but
//! never extends it; an expired entry is dropped when it is next looked up, or when the
//! LRU order reaches it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use agtp_core::Response;
use lru::LruCache;
use serde_json::Value;

/// What identifies an answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// The routed endpoint's verb (a legacy alias such as GET is stored under FETCH).
    pub(crate) method: String,
    /// The concrete path that was routed.
    pub(crate) path: String,
    /// The validated input in canonical form (see [`Key::new`]).
    pub(crate) input: String,
    /// The agent, for agent-scoped endpoints only.
    pub(crate) agent: Option<String>,
}

impl Key {
    /// The key for `input`. Its text is `serde_json`'s compact form: with serde_json's
    /// default `Map` (a `BTreeMap`, `preserve_order` off in this workspace) object keys
    /// come out sorted, so inputs that differ only in key order share a key; the unit
    /// test `inputs_differing_only_in_key_order_share_a_key` guards that.
    pub(crate) fn new(method: &str, path: &str, input: Option<&Value>, agent: Option<&str>) -> Key {
        Key {
            method: method.to_owned(),
            path: path.to_owned(),
            input: input.map(Value::to_string).unwrap_or_default(),
            agent: agent.map(str::to_owned),
        }
    }

    fn size(&self) -> u64 {
        let agent = self.agent.as_ref().map_or(0, String::len);
        (self.method.len() + self.path.len() + self.input.len() + agent) as u64
    }
}

/// A stored answer.
#[derive(Debug)]
pub(crate) struct Stored {
    /// Status, headers and body as the handler answered (before `Cache-Status`).
    pub(crate) response: Response,
    /// When it stops being served.
    pub(crate) expires: Instant,
}

/// The size an entry for `key` and `response` counts against `max_bytes`.
pub(crate) fn entry_size(key: &Key, response: &Response) -> u64 {
    let headers: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    key.size() + (response.body.len() + headers) as u64
}

/// The LRU and its accounting.
pub(crate) struct Store {
    entries: LruCache<Arc<Key>, (Arc<Stored>, u64)>,
    by_path: HashMap<String, HashSet<Arc<Key>>>,
    bytes: u64,
    max_entries: usize,
    max_bytes: u64,
}

impl Store {
    pub(crate) fn new(max_entries: usize, max_bytes: u64) -> Store {
        Store {
            entries: LruCache::unbounded(),
            by_path: HashMap::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// The fresh entry for `key`, marked most recently used; an expired one is dropped.
    pub(crate) fn get(&mut self, key: &Key, now: Instant) -> Option<Arc<Stored>> {
        let (stored, _) = self.entries.get(key)?;
        if stored.expires > now {
            return Some(stored.clone());
        }
        self.remove(key);
        None
    }

    /// Stores `stored` under `key` (replacing any entry there), then evicts least
    /// recently used entries until both bounds hold. Returns how many were evicted, or
    /// `None` when the entry alone is larger than `max_bytes` (nothing changes then).
    pub(crate) fn insert(&mut self, key: Arc<Key>, stored: Arc<Stored>) -> Option<usize> {
        let size = entry_size(&key, &stored.response);
        if size > self.max_bytes || self.max_entries == 0 {
            return None;
        }
        self.remove(&key);
        self.by_path
            .entry(key.path.clone())
            .or_default()
            .insert(key.clone());
        self.entries.put(key, (stored, size));
        self.bytes += size;
        let mut n_evicted = 0;
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some((old, (_, old_size))) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= old_size;
            self.unindex(&old);
            n_evicted += 1;
        }
        Some(n_evicted)
    }

    /// Drops every entry for the concrete `path` (all methods, inputs and agents);
    /// returns how many there were.
    pub(crate) fn purge_path(&mut self, path: &str) -> usize {
        let Some(keys) = self.by_path.remove(path) else {
            return 0;
        };
        for key in &keys {
            if let Some((_, size)) = self.entries.pop(key) {
                self.bytes -= size;
            }
        }
        keys.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    fn remove(&mut self, key: &Key) {
        if let Some((old, (_, size))) = self.entries.pop_entry(key) {
            self.bytes -= size;
            self.unindex(&old);
        }
    }

    fn unindex(&mut self, key: &Arc<Key>) {
        if let Some(keys) = self.by_path.get_mut(&key.path) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_path.remove(&key.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agtp_core::Status;
    use serde_json::json;
    use std::time::Duration;

    fn key(path: &str, input: Value) -> Arc<Key> {
        Arc::new(Key::new("QUERY", path, Some(&input), None))
    }

    fn answer(body: &str, ttl: Duration) -> Arc<Stored> {
        let mut response = Response::new(Status::OK);
        response.body = body.as_bytes().to_vec().into();
        Arc::new(Stored {
            response,
            expires: Instant::now() + ttl,
        })
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn inputs_differing_only_in_key_order_share_a_key() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":3,"y":2},"b":1}"#).unwrap();
        let (ka, kb) = (key("/p", a), key("/p", b));
        assert_eq!(ka, kb);
        assert_eq!(ka.input, r#"{"a":{"x":3,"y":2},"b":1}"#);
        assert_ne!(key("/p", json!({"a": 1})), key("/p", json!({"a": "1"})));
    }

    #[test]
    fn an_expired_entry_is_not_served_and_is_dropped() {
        let mut store = Store::new(10, 1 << 20);
        let k = key("/p", json!({}));
        store.insert(k.clone(), answer("x", Duration::ZERO));
        assert_eq!(store.len(), 1);
        assert!(store.get(&k, Instant::now()).is_none());
        assert_eq!((store.len(), store.bytes()), (0, 0));
    }

    #[test]
    fn the_entry_bound_evicts_the_least_recently_used() {
        let mut store = Store::new(2, 1 << 20);
        let (a, b, c) = (
            key("/a", json!(1)),
            key("/b", json!(1)),
            key("/c", json!(1)),
        );
        assert_eq!(store.insert(a.clone(), answer("a", LONG)), Some(0));
        assert_eq!(store.insert(b.clone(), answer("b", LONG)), Some(0));
        assert!(store.get(&a, Instant::now()).is_some());
        assert_eq!(store.insert(c.clone(), answer("c", LONG)), Some(1));
        assert!(store.get(&b, Instant::now()).is_none());
        assert!(store.get(&a, Instant::now()).is_some());
        assert!(store.get(&c, Instant::now()).is_some());
        assert_eq!(store.purge_path("/b"), 0, "the evicted key left the index");
    }

    #[test]
    fn the_byte_bound_evicts_until_it_holds_and_refuses_what_cannot_fit() {
        let k1 = key("/a", json!(1));
        let size = entry_size(&k1, &answer(&"x".repeat(100), LONG).response);
        let mut store = Store::new(100, size * 2);
        store.insert(k1, answer(&"x".repeat(100), LONG));
        store.insert(key("/b", json!(1)), answer(&"x".repeat(100), LONG));
        assert_eq!(store.bytes(), size * 2);
        let evicted = store.insert(key("/c", json!(1)), answer(&"x".repeat(150), LONG));
        assert_eq!(evicted, Some(2));
        assert_eq!(store.len(), 1);
        assert!(store.bytes() <= size * 2);
        let huge = store.insert(key("/d", json!(1)), answer(&"x".repeat(1000), LONG));
        assert_eq!(huge, None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn purging_a_path_drops_its_entries_and_their_bytes_only() {
        let mut store = Store::new(10, 1 << 20);
        store.insert(key("/rooms/1", json!({"a": 1})), answer("1", LONG));
        store.insert(key("/rooms/1", json!({"a": 2})), answer("2", LONG));
        let other = key("/rooms/2", json!({"a": 1}));
        store.insert(other.clone(), answer("3", LONG));
        assert_eq!(store.purge_path("/rooms/1"), 2);
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.bytes(),
            entry_size(&other, &answer("3", LONG).response)
        );
        assert!(store.get(&other, Instant::now()).is_some());
    }

    #[test]
    fn replacing_a_key_keeps_one_entry_and_its_bytes_right() {
        let mut store = Store::new(10, 1 << 20);
        let k = key("/a", json!(1));
        store.insert(k.clone(), answer("short", LONG));
        store.insert(k.clone(), answer("longer body", LONG));
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.bytes(),
            entry_size(&k, &answer("longer body", LONG).response)
        );
        assert_eq!(store.purge_path("/a"), 1);
        assert_eq!(store.bytes(), 0);
    }
}

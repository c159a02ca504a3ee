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
use tokio::time::Instant;

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
mod tests;

//! The `[modules.cache]` table: strict serde (unknown keys refused), defaults, and the
//! checks serde cannot make. Reading it has no side effects.
//!
//! ```toml
//! [modules.cache]
//! max_entries = 1000          # 0 disables the cache
//! max_bytes = 67108864        # keys, bodies and headers held, in bytes
//! ttl = "5m"                  # fixed, from insertion
//! max_body = 1048576          # larger answers are not stored
//! lock_timeout = "5s"         # how long identical misses wait for the first one
//!
//! [modules.cache.endpoints."QUERY /rooms/{room_id}"]
//! ttl = "30s"
//! agent_scoped = true
//!
//! [modules.cache.endpoints."BOOK /rooms/{room_id}"]
//! invalidates = ["/rooms/availability"]   # besides the call's own path
//! ```

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

/// `[modules.cache]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Entries held at most; the least recently used go first. 0 disables the cache:
    /// nothing is stored and every answer says `fwd=bypass; detail=disabled`.
    /// Default 1000.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Bytes held at most (keys, bodies and header fields). At least 1. Default 64 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// How long an entry is served, counted from its insertion; hits never extend it.
    /// More than 0. Default 5 minutes.
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// Answers whose body is larger than this are not stored. At least 1. Default 1 MiB.
    #[serde(default = "default_max_body")]
    pub max_body: u64,
    /// How long identical concurrent misses wait for the first one's answer before
    /// calling the handler themselves (0: they never wait). Default 5 s.
    #[serde(default = "default_lock_timeout", with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// Per-endpoint settings, keyed by the endpoint file's `"METHOD /path/{template}"`.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSettings>,
}

/// `[modules.cache.endpoints."METHOD /path"]`: one endpoint's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    /// This endpoint's TTL instead of the default. More than 0.
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    /// The agent is part of the key: each agent has its own entries. Default false
    /// (agents share the answers of the same method, path and input).
    #[serde(default)]
    pub agent_scoped: bool,
    /// Concrete paths whose entries a call to this endpoint purges, besides its own
    /// path: what it changes elsewhere (a booking changes the availability). Only for
    /// endpoints that are not informational.
    #[serde(default)]
    pub invalidates: Vec<String>,
}

fn default_max_entries() -> usize {
    1000
}

fn default_max_bytes() -> u64 {
    64 << 20
}

fn default_ttl() -> Duration {
    Duration::from_secs(300)
}

fn default_max_body() -> u64 {
    1 << 20
}

fn default_lock_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
            ttl: default_ttl(),
            max_body: default_max_body(),
            lock_timeout: default_lock_timeout(),
            endpoints: BTreeMap::new(),
        }
    }
}

impl CacheConfig {
    /// Reads and checks a `[modules.cache]` table.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, String> {
        let config = CacheConfig::deserialize(value).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_bytes == 0 {
            return Err("`max_bytes` must be at least 1".into());
        }
        if self.max_body == 0 {
            return Err("`max_body` must be at least 1".into());
        }
        if self.ttl.is_zero() {
            return Err("`ttl` must be more than 0".into());
        }
        for (key, settings) in &self.endpoints {
            endpoint_key(key).map_err(|e| format!("`endpoints.\"{key}\"`: {e}"))?;
            if settings.ttl.is_some_and(|ttl| ttl.is_zero()) {
                return Err(format!("`endpoints.\"{key}\".ttl` must be more than 0"));
            }
            if let Some(path) = settings
                .invalidates
                .iter()
                .find(|p| !p.starts_with('/') || p.contains(['{', '}', '?', ' ']))
            {
                return Err(format!(
                    "`endpoints.\"{key}\".invalidates`: `{path}` is not a concrete path \
                     (it starts with `/` and has no template, query or spaces)"
                ));
            }
        }
        Ok(())
    }

    /// The per-endpoint settings by normalised `"METHOD /path"` (method upper-cased).
    pub(crate) fn endpoint_table(&self) -> HashMap<String, EndpointSettings> {
        self.endpoints
            .iter()
            .filter_map(|(key, settings)| Some((endpoint_key(key).ok()?, settings.clone())))
            .collect()
    }
}

/// `"QUERY /rooms/{room_id}"` normalised to an upper-case method, one space, the path.
pub(crate) fn endpoint_key(key: &str) -> Result<String, String> {
    let (method, path) = key
        .split_once(' ')
        .ok_or("expected \"METHOD /path\", e.g. \"QUERY /rooms/{room_id}\"")?;
    let method_ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !method_ok {
        return Err(format!("`{method}` is not a method name"));
    }
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(format!(
            "`{path}` is not a path: it starts with `/` and has no spaces"
        ));
    }
    Ok(format!("{} {path}", method.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests;

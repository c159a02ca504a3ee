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
//!
//! Shared by every replica, on Redis or Valkey:
//!
//! ```toml
//! [modules.cache]
//! backend = "redis"           # default "memory"
//!
//! [modules.cache.redis]
//! url = "redis://127.0.0.1:6379/0"   # or rediss://, redis+unix:///run/redis.sock
//! connections = 2             # multiplexed connections to the server
//! timeout = "100ms"           # per operation; past it the cache bypasses
//! key_prefix = "agtpd:cache:" # replicas sharing entries use the same prefix
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
    /// Where entries live: this process's memory (`max_entries`, `max_bytes` bound it), or
    /// a Redis / Valkey server that replicas share (its own memory policy bounds it).
    #[serde(default)]
    pub backend: Backend,
    /// `[modules.cache.redis]`, needed with `backend = "redis"`.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
}

/// `backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An LRU in this process.
    #[default]
    Memory,
    /// A Redis or Valkey server, shared by every replica that names it.
    Redis,
}

/// `[modules.cache.redis]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://...` or
    /// `redis+unix:///path/to/socket`.
    pub url: String,
    /// Multiplexed connections to the server. At least 1. Default 2.
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Each operation's limit (connecting included); past it, and for a second after,
    /// the cache bypasses. More than 0. Default 100 ms.
    #[serde(default = "default_redis_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Prepended to every key. Default `agtpd:cache:`.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_connections() -> usize {
    2
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(100)
}

fn default_key_prefix() -> String {
    "agtpd:cache:".into()
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
            backend: Backend::Memory,
            redis: None,
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
        match (&self.backend, &self.redis) {
            (Backend::Redis, None) => {
                return Err("`backend = \"redis\"` needs `[modules.cache.redis] url`".into())
            }
            (Backend::Memory, Some(_)) => {
                return Err("`[modules.cache.redis]` is set but `backend` is not \"redis\"".into())
            }
            (_, Some(redis)) => {
                redis::Client::open(redis.url.as_str()).map_err(|e| format!("`redis.url`: {e}"))?;
                if redis.connections == 0 {
                    return Err("`redis.connections` must be at least 1".into());
                }
                if redis.timeout.is_zero() {
                    return Err("`redis.timeout` must be more than 0".into());
                }
            }
            (Backend::Memory, None) => {}
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

    /// The longest TTL any endpoint gets.
    pub(crate) fn max_ttl(&self) -> Duration {
        self.endpoints
            .values()
            .filter_map(|s| s.ttl)
            .fold(self.ttl, Duration::max)
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

//! The Redis / Valkey backend (`backend = "redis"`): answers shared by every agtpd that
//! names the same server and `key_prefix`.
//!
//! - **Entries**: `PREFIX e:SHA256(key)` holds the answer (MessagePack: status, headers,
//!   body) and the path generation it was stored under, with a Redis expiry of the TTL.
//! - **Invalidation**: `PREFIX g:SHA256(path)` is the path's generation. A purge is one
//!   `INCR`, so every replica's next read of the path sees it: an entry whose generation
//!   is not the path's current one is never served. A miss stores under the generation
//!   it read, so an answer fetched while another replica purged the path is stored dead.
//!   Generations expire twice the longest TTL after their last purge, when no entry
//!   stored under an older one can be alive.
//! - **A read** is one round trip (`GET` generation, `GET` entry, `PTTL` entry); a store
//!   one `SET ... PX`; a purge one `INCR` plus `PEXPIRE`.
//! - **Failures**: every operation has `timeout`; a failed one makes the cache bypass
//!   (`detail=backend-unavailable`) and skip the server for [`PAUSE`], so a server that is
//!   down or hangs costs at most one timeout per pause, never an error to an agent.
//!   Connections are made on first use and re-made by the `redis` crate's connection
//!   manager.
//!
//! Single-flight stays per replica: identical misses on two replicas make two handler
//! calls.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use agtp_core::{Headers, Response, Status};

use crate::config::RedisConfig;
use crate::store::Key;

/// How long the backend is skipped after a failure.
pub(crate) const PAUSE: Duration = Duration::from_secs(1);

/// The server was down, slow or refused; the cache bypasses.
#[derive(Debug)]
pub(crate) struct Unavailable;

/// What a read found.
pub(crate) struct Read {
    /// The path's generation now; a miss stores under it.
    pub(crate) generation: u64,
    /// A live entry of this generation, and its remaining time.
    pub(crate) hit: Option<(Response, Duration)>,
}

/// The stored form of an answer.
#[derive(Serialize, Deserialize)]
struct Entry {
    generation: u64,
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

pub(crate) struct Shared {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    n_connections: usize,
    /// Generations outlive every entry.
    generation_ttl: Duration,
    managers: OnceLock<Vec<ConnectionManager>>,
    next: AtomicUsize,
    paused_until: Mutex<Option<Instant>>,
    /// Operations that failed or timed out (not those skipped while paused).
    n_errors: AtomicU64,
}

impl Shared {
    /// The backend for `config`; nothing connects until the first request. `max_ttl` is
    /// the longest TTL any endpoint has.
    pub(crate) fn new(config: &RedisConfig, max_ttl: Duration) -> Result<Shared, String> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|e| format!("`redis.url`: {e}"))?;
        Ok(Shared {
            client,
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            n_connections: config.connections,
            generation_ttl: max_ttl * 2,
            managers: OnceLock::new(),
            next: AtomicUsize::new(0),
            paused_until: Mutex::new(None),
            n_errors: AtomicU64::new(0),
        })
    }

    /// The next connection, round robin; `None` when none could be made.
    fn manager(&self) -> Option<ConnectionManager> {
        let managers = self.managers.get_or_init(|| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1);
            (0..self.n_connections)
                .filter_map(|_| {
                    ConnectionManager::new_lazy_with_config(self.client.clone(), config.clone())
                        .ok()
                })
                .collect()
        });
        let i = self.next.fetch_add(1, Ordering::Relaxed) % managers.len().max(1);
        managers.get(i).cloned()
    }

    /// Runs `pipe`, within the timeout and unless the backend is paused.
    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: redis::Pipeline,
    ) -> Result<T, Unavailable> {
        if self.is_paused() {
            return Err(Unavailable);
        }
        let Some(mut connection) = self.manager() else {
            return Err(self.pause("no connection to the server could be set up"));
        };
        let result =
            tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut connection)).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.pause(&error.to_string())),
            Err(_) => Err(self.pause("no answer within the timeout")),
        }
    }

    fn is_paused(&self) -> bool {
        let paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused.is_some_and(|until| Instant::now() < until)
    }

    /// Operations that failed or timed out so far.
    pub(crate) fn errors(&self) -> u64 {
        self.n_errors.load(Ordering::Relaxed)
    }

    fn pause(&self, why: &str) -> Unavailable {
        self.n_errors.fetch_add(1, Ordering::Relaxed);
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !paused.is_some_and(|until| Instant::now() < until) {
            tracing::warn!(error = why, pause = ?PAUSE, "cache backend unavailable; bypassing it");
        }
        *paused = Some(Instant::now() + PAUSE);
        Unavailable
    }

    fn entry_key(&self, key: &Key) -> String {
        let mut hash = Sha256::new();
        for part in [&key.method, &key.path, &key.input] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        if let Some(agent) = &key.agent {
            hash.update(agent.as_bytes());
        }
        format!("{}e:{:x}", self.prefix, hash.finalize())
    }

    fn generation_key(&self, path: &str) -> String {
        format!("{}g:{:x}", self.prefix, Sha256::digest(path.as_bytes()))
    }

    /// The path's generation and a live entry of it for `key`.
    pub(crate) async fn read(&self, key: &Key) -> Result<Read, Unavailable> {
        let entry_key = self.entry_key(key);
        let mut pipe = redis::pipe();
        pipe.get(self.generation_key(&key.path))
            .get(&entry_key)
            .pttl(&entry_key);
        let (generation, value, pttl): (Option<u64>, Option<Vec<u8>>, i64) =
            self.query(pipe).await?;
        let generation = generation.unwrap_or(0);
        let hit = value
            .and_then(|bytes| rmp_serde::from_slice::<Entry>(&bytes).ok())
            .filter(|entry| entry.generation == generation && pttl > 0)
            .and_then(|entry| {
                let status = Status::from_code(entry.status)?;
                let mut headers = Headers::new();
                for (name, value) in entry.headers {
                    headers.append(name, value);
                }
                let response = Response {
                    status,
                    headers,
                    body: entry.body,
                };
                Some((response, Duration::from_millis(pttl.unsigned_abs())))
            });
        Ok(Read { generation, hit })
    }

    /// Stores `response` under `key` for `ttl`, as of the path's `generation`.
    pub(crate) async fn store(
        &self,
        key: &Key,
        response: &Response,
        ttl: Duration,
        generation: u64,
    ) -> Result<(), Unavailable> {
        let entry = Entry {
            generation,
            status: response.status.code(),
            headers: response
                .headers
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            body: response.body.clone(),
        };
        let bytes = rmp_serde::to_vec(&entry).map_err(|e| self.pause(&e.to_string()))?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.set(self.entry_key(key), bytes)
            .arg("PX")
            .arg(ttl_ms)
            .ignore();
        self.query::<()>(pipe).await
    }

    /// Moves every path in `paths` to a new generation, on every replica at once.
    pub(crate) async fn purge(&self, paths: &[String]) -> Result<(), Unavailable> {
        let ms = u64::try_from(self.generation_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut pipe = redis::pipe();
        for path in paths {
            let key = self.generation_key(path);
            pipe.incr(&key, 1)
                .ignore()
                .pexpire(&key, ms as i64)
                .ignore();
        }
        self.query::<()>(pipe).await
    }
}

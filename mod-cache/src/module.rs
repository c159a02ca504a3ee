//! [`CacheModule`]: the `on_request` / `on_response` hooks.
//!
//! - `on_request`, for a routed endpoint: an informational one is looked up; a fresh
//!   entry answers at once (`Flow::Respond`), otherwise the miss leads or follows a
//!   flight (see `flight`). Any other one (reversible or irreversible, idempotent or not:
//!   idempotent is not safe) purges the entries of its concrete path and of the paths its
//!   settings say it `invalidates`.
//! - `on_response`: a leader's 2xx answer within `max_body` is stored with its fixed TTL;
//!   a call that is not informational purges its paths again (what was read while it ran
//!   may be stale; flights in progress on them are marked and will not store). Every
//!   answer gets its `Cache-Status`.
//! - Entries live in this process ([`Store`]) or on a shared Redis ([`Shared`]); when the
//!   latter fails, the exchange bypasses the cache (`detail=backend-unavailable`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use agtp_core::module::{Cx, EndpointFacts, Flow, Module, ModuleError, ModuleMetric};
use agtp_core::{Request, Response};
use async_trait::async_trait;

use crate::config::{Backend, CacheConfig, EndpointSettings};
use crate::flight::{Flights, Leader, Role};
use crate::metrics::{add, Counters};
use crate::shared::{Shared, Unavailable};
use crate::status::{CacheStatus, NotStored, HEADER};
use crate::store::{Key, Store, Stored};

/// The cache. Shared by every connection.
pub struct CacheModule {
    ttl: Duration,
    max_body: u64,
    lock_timeout: Duration,
    enabled: bool,
    endpoints: HashMap<String, EndpointSettings>,
    entries: Entries,
    flights: Arc<Flights>,
    counters: Counters,
}

/// Where the answers are kept.
enum Entries {
    Memory(Mutex<Store>),
    Shared(Shared),
}

/// What a lookup found: a fresh entry, and the path generation a miss stores under (0 in
/// memory, where a purge removes entries instead).
struct Found {
    hit: Option<Arc<Stored>>,
    generation: u64,
}

/// What `on_request` decided, kept in the exchange's extensions for `on_response`. A
/// hit leaves nothing: its answer already carries its `Cache-Status`.
enum Exchange {
    Disabled,
    /// A call that is not informational: the concrete paths it purges.
    Invalidating(Vec<String>),
    Miss(Miss),
    /// The shared backend failed: the handler answers, nothing is stored.
    Unavailable,
}

struct Miss {
    key: Arc<Key>,
    ttl: Duration,
    /// The path's generation when the miss looked (see `shared`).
    generation: u64,
    /// `None` for a follower that calls the handler itself; it does not store.
    leader: Option<Leader>,
}

/// Only an informational endpoint's answers may be replayed: anything else may change
/// state, even when repeating it is harmless (idempotent).
fn cacheable(endpoint: &EndpointFacts) -> bool {
    endpoint.impact == "informational"
}

impl CacheModule {
    /// A cache with `config` (already checked by [`CacheConfig::from_value`]). Opens no
    /// connection: a shared backend connects on first use.
    pub fn new(config: &CacheConfig) -> Result<CacheModule, String> {
        let entries = match (config.backend, &config.redis) {
            (Backend::Redis, Some(redis)) => Entries::Shared(Shared::new(redis, config.max_ttl())?),
            _ => Entries::Memory(Mutex::new(Store::new(config.max_entries, config.max_bytes))),
        };
        Ok(CacheModule {
            ttl: config.ttl,
            max_body: config.max_body,
            lock_timeout: config.lock_timeout,
            enabled: config.max_entries > 0,
            endpoints: config.endpoint_table(),
            entries,
            flights: Arc::default(),
            counters: Counters::default(),
        })
    }

    fn settings(&self, endpoint: &EndpointFacts) -> Option<&EndpointSettings> {
        self.endpoints
            .get(&format!("{} {}", endpoint.method, endpoint.path))
    }

    /// The concrete paths a call to `endpoint` that is not informational purges.
    fn invalidated(&self, endpoint: &EndpointFacts) -> Vec<String> {
        let mut paths = vec![endpoint.request_path.clone()];
        if let Some(settings) = self.settings(endpoint) {
            paths.extend(settings.invalidates.iter().cloned());
        }
        paths
    }

    /// The key and TTL of a request to a cacheable `endpoint`.
    fn key(&self, endpoint: &EndpointFacts, cx: &Cx) -> (Arc<Key>, Duration) {
        let settings = self.settings(endpoint);
        let ttl = settings.and_then(|s| s.ttl).unwrap_or(self.ttl);
        let agent = match settings {
            Some(s) if s.agent_scoped => cx.agent_id.as_deref(),
            _ => None,
        };
        let key = Key::new(
            &endpoint.method,
            &endpoint.request_path,
            cx.input.as_ref(),
            agent,
        );
        (Arc::new(key), ttl)
    }

    async fn lookup(&self, key: &Key) -> Result<Found, Unavailable> {
        match &self.entries {
            Entries::Memory(store) => Ok(Found {
                hit: lock(store).get(key, Instant::now()),
                generation: 0,
            }),
            Entries::Shared(shared) => {
                let read = shared.read(key).await?;
                let hit = read.hit.map(|(response, left)| {
                    Arc::new(Stored {
                        response,
                        expires: Instant::now() + left,
                    })
                });
                Ok(Found {
                    hit,
                    generation: read.generation,
                })
            }
        }
    }

    /// Serves a cacheable request from the store or a leader, or says how to go on.
    async fn serve(&self, key: Arc<Key>, ttl: Duration) -> Result<Response, Exchange> {
        let found = self
            .lookup(&key)
            .await
            .map_err(|Unavailable| Exchange::Unavailable)?;
        if let Some(stored) = found.hit {
            add(&self.counters.hits, 1);
            return Ok(replay(&stored, |ttl| CacheStatus::Hit { ttl }));
        }
        let leader = match self.flights.join(&key) {
            Role::Leader(leader) => Some(leader),
            Role::Follower(follower) => match follower.wait(self.lock_timeout).await {
                Some(stored) => {
                    add(&self.counters.collapsed, 1);
                    return Ok(replay(&stored, |ttl| CacheStatus::Collapsed { ttl }));
                }
                None => None,
            },
        };
        // A leader that finished between the first lookup and `join` stored its answer
        // before it left the flight table; a leader that found it so released us.
        let found = self
            .lookup(&key)
            .await
            .map_err(|Unavailable| Exchange::Unavailable)?;
        if let Some(stored) = found.hit {
            add(&self.counters.hits, 1);
            return Ok(replay(&stored, |ttl| CacheStatus::Hit { ttl }));
        }
        add(&self.counters.misses, 1);
        Err(Exchange::Miss(Miss {
            key,
            ttl,
            generation: found.generation,
            leader,
        }))
    }

    /// Stores a leader's answer when it may be; says what happened.
    async fn conclude(&self, miss: Miss, response: &Response) -> CacheStatus {
        let fwd_status = response.status.code();
        let forwarded = |why| CacheStatus::Forwarded { fwd_status, why };
        // Ending a leader without `finish` (dropping it) sends its followers to the
        // handler.
        let Some(leader) = miss.leader else {
            return forwarded(Some(NotStored::Uncollapsed));
        };
        if response.status.class() != 2 {
            return forwarded(None);
        }
        if response.body.len() as u64 > self.max_body {
            return forwarded(Some(NotStored::TooLarge));
        }
        let stored = Arc::new(Stored {
            response: response.clone(),
            expires: Instant::now() + miss.ttl,
        });
        match &self.entries {
            Entries::Memory(store) => {
                let mut store = lock(store);
                // Checked under the store lock, which `invalidate` also holds while marking.
                if leader.is_invalidated() {
                    return forwarded(Some(NotStored::Invalidated));
                }
                let Some(n_evicted) = store.insert(miss.key, stored.clone()) else {
                    return forwarded(Some(NotStored::TooLarge));
                };
                drop(store);
                add(&self.counters.evictions, n_evicted as u64);
            }
            Entries::Shared(shared) => {
                // A purge on another replica meanwhile moved the path's generation on: the
                // entry is stored dead. Here, the flight's mark says it.
                if leader.is_invalidated() {
                    return forwarded(Some(NotStored::Invalidated));
                }
                let written = shared
                    .store(&miss.key, response, miss.ttl, miss.generation)
                    .await;
                if written.is_err() {
                    return forwarded(Some(NotStored::BackendUnavailable));
                }
            }
        }
        add(&self.counters.stores, 1);
        leader.finish(Some(stored));
        CacheStatus::Stored {
            fwd_status,
            ttl: miss.ttl.as_secs(),
        }
    }

    /// Purges the entries of `paths` and marks their flights in progress.
    async fn invalidate(&self, paths: &[String]) {
        match &self.entries {
            Entries::Memory(store) => {
                let mut store = lock(store);
                let mut n_purged = 0;
                for path in paths {
                    n_purged += store.purge_path(path);
                    self.flights.invalidate_path(path);
                }
                drop(store);
                add(&self.counters.invalidations, n_purged as u64);
            }
            Entries::Shared(shared) => {
                for path in paths {
                    self.flights.invalidate_path(path);
                }
                if shared.purge(paths).await.is_ok() {
                    add(&self.counters.invalidations, paths.len() as u64);
                }
            }
        }
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The stored answer with this exchange's `Cache-Status`.
fn replay(stored: &Stored, status: impl Fn(u64) -> CacheStatus) -> Response {
    let mut response = stored.response.clone();
    let ttl = stored
        .expires
        .saturating_duration_since(Instant::now())
        .as_secs();
    response.headers.append(HEADER, status(ttl).to_string());
    response
}

#[async_trait]
impl Module for CacheModule {
    fn name(&self) -> &'static str {
        "cache"
    }

    async fn on_request(&self, _request: &mut Request, cx: &mut Cx) -> Result<Flow, ModuleError> {
        let Some(endpoint) = cx.endpoint.as_ref() else {
            return Ok(Flow::Continue);
        };
        let exchange = if !self.enabled {
            Exchange::Disabled
        } else {
            if cacheable(endpoint) {
                let (key, ttl) = self.key(endpoint, cx);
                match self.serve(key, ttl).await {
                    Ok(response) => return Ok(Flow::Respond(response)),
                    Err(exchange) => exchange,
                }
            } else {
                let paths = self.invalidated(endpoint);
                self.invalidate(&paths).await;
                Exchange::Invalidating(paths)
            }
        };
        cx.extensions_mut().insert(exchange);
        Ok(Flow::Continue)
    }

    async fn on_response(&self, response: &mut Response, cx: &mut Cx) -> Result<(), ModuleError> {
        let Some(exchange) = cx.extensions_mut().remove::<Exchange>() else {
            return Ok(());
        };
        let status = match exchange {
            Exchange::Disabled => CacheStatus::Disabled,
            Exchange::Invalidating(paths) => {
                self.invalidate(&paths).await;
                CacheStatus::Bypass
            }
            Exchange::Miss(miss) => self.conclude(miss, response).await,
            Exchange::Unavailable => CacheStatus::Unavailable,
        };
        response.headers.append(HEADER, status.to_string());
        Ok(())
    }

    fn metrics(&self) -> Vec<ModuleMetric> {
        let (entries, bytes, backend_errors) = match &self.entries {
            Entries::Memory(store) => {
                let store = lock(store);
                (store.len() as u64, store.bytes(), 0)
            }
            // Held by the server; its own INFO reports them.
            Entries::Shared(shared) => (0, 0, shared.errors()),
        };
        self.counters.samples(entries, bytes, backend_errors)
    }
}

#[cfg(test)]
mod tests;

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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use agtp_core::module::{Cx, EndpointFacts, Flow, Module, ModuleError, ModuleMetric};
use agtp_core::{Request, Response};
use async_trait::async_trait;

use crate::config::{CacheConfig, EndpointSettings};
use crate::flight::{Flights, Leader, Role};
use crate::metrics::{add, Counters};
use crate::status::{CacheStatus, NotStored, HEADER};
use crate::store::{Key, Store, Stored};

/// The cache. Shared by every connection.
pub struct CacheModule {
    ttl: Duration,
    max_body: u64,
    lock_timeout: Duration,
    enabled: bool,
    endpoints: HashMap<String, EndpointSettings>,
    store: Mutex<Store>,
    flights: Arc<Flights>,
    counters: Counters,
}

/// What `on_request` decided, kept in the exchange's extensions for `on_response`. A
/// hit leaves nothing: its answer already carries its `Cache-Status`.
enum Exchange {
    Disabled,
    /// A call that is not informational: the concrete paths it purges.
    Invalidating(Vec<String>),
    Miss(Miss),
}

struct Miss {
    key: Arc<Key>,
    ttl: Duration,
    /// `None` for a follower that calls the handler itself; it does not store.
    leader: Option<Leader>,
}

/// Only an informational endpoint's answers may be replayed: anything else may change
/// state, even when repeating it is harmless (idempotent).
fn cacheable(endpoint: &EndpointFacts) -> bool {
    endpoint.impact == "informational"
}

impl CacheModule {
    /// A cache with `config` (already checked by [`CacheConfig::from_value`]).
    pub fn new(config: &CacheConfig) -> CacheModule {
        CacheModule {
            ttl: config.ttl,
            max_body: config.max_body,
            lock_timeout: config.lock_timeout,
            enabled: config.max_entries > 0,
            endpoints: config.endpoint_table(),
            store: Mutex::new(Store::new(config.max_entries, config.max_bytes)),
            flights: Arc::default(),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
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

    fn lookup(&self, key: &Key) -> Option<(Arc<Stored>, Instant)> {
        let now = Instant::now();
        let stored = self.lock().get(key, now)?;
        Some((stored, now))
    }

    /// Serves a cacheable request from the store or a leader, or returns its miss.
    async fn serve(&self, key: Arc<Key>, ttl: Duration) -> Result<Response, Miss> {
        if let Some((stored, now)) = self.lookup(&key) {
            add(&self.counters.hits, 1);
            return Ok(replay(&stored, now, |ttl| CacheStatus::Hit { ttl }));
        }
        let leader = match self.flights.join(&key) {
            Role::Leader(leader) => Some(leader),
            Role::Follower(follower) => match follower.wait(self.lock_timeout).await {
                Some(stored) => {
                    add(&self.counters.collapsed, 1);
                    let now = Instant::now();
                    return Ok(replay(&stored, now, |ttl| CacheStatus::Collapsed { ttl }));
                }
                None => None,
            },
        };
        // A leader that finished between the first lookup and `join` stored its answer
        // before it left the flight table; a leader that found it so released us.
        if let Some((stored, now)) = self.lookup(&key) {
            add(&self.counters.hits, 1);
            return Ok(replay(&stored, now, |ttl| CacheStatus::Hit { ttl }));
        }
        add(&self.counters.misses, 1);
        Err(Miss { key, ttl, leader })
    }

    /// Stores a leader's answer when it may be; says what happened.
    fn conclude(&self, miss: Miss, response: &Response) -> CacheStatus {
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
        let mut store = self.lock();
        // Checked under the store lock, which `invalidate` also holds while marking.
        if leader.is_invalidated() {
            return forwarded(Some(NotStored::Invalidated));
        }
        let Some(n_evicted) = store.insert(miss.key, stored.clone()) else {
            return forwarded(Some(NotStored::TooLarge));
        };
        drop(store);
        add(&self.counters.stores, 1);
        add(&self.counters.evictions, n_evicted as u64);
        leader.finish(Some(stored));
        CacheStatus::Stored {
            fwd_status,
            ttl: miss.ttl.as_secs(),
        }
    }

    /// Purges the entries of `paths` and marks their flights in progress.
    fn invalidate(&self, paths: &[String]) {
        let mut store = self.lock();
        let mut n_purged = 0;
        for path in paths {
            n_purged += store.purge_path(path);
            self.flights.invalidate_path(path);
        }
        drop(store);
        add(&self.counters.invalidations, n_purged as u64);
    }
}

/// The stored answer with this exchange's `Cache-Status`.
fn replay(stored: &Stored, now: Instant, status: impl Fn(u64) -> CacheStatus) -> Response {
    let mut response = stored.response.clone();
    let ttl = stored.expires.saturating_duration_since(now).as_secs();
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
                    Err(miss) => Exchange::Miss(miss),
                }
            } else {
                let paths = self.invalidated(endpoint);
                self.invalidate(&paths);
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
                self.invalidate(&paths);
                CacheStatus::Bypass
            }
            Exchange::Miss(miss) => self.conclude(miss, response),
        };
        response.headers.append(HEADER, status.to_string());
        Ok(())
    }

    fn metrics(&self) -> Vec<ModuleMetric> {
        let (entries, bytes) = {
            let store = self.lock();
            (store.len() as u64, store.bytes())
        };
        self.counters.samples(entries, bytes)
    }
}

#[cfg(test)]
mod tests;

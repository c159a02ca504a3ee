//! `mod-cache`: the `cache` operational module for agtpd — an in-memory cache of the
//! successful answers of endpoints whose semantic block makes caching safe.
//!
//! Dependency rule: depends on `agtp-core` only among workspace crates (never on agtpd
//! or another module).
//!
//! # What it does
//! - **Cached**: 2xx answers of routed endpoints with `impact = "informational"`.
//!   Errors are never stored; idempotent is not safe, so nothing else is cached.
//! - **Key**: the routed method, the concrete path, the validated input in canonical form
//!   (sorted object keys), and the agent for endpoints configured `agent_scoped`.
//! - **Store**: an LRU bounded by `max_entries` and `max_bytes`; each entry expires a
//!   fixed TTL after insertion (hits never extend it); `max_entries = 0` disables it.
//!   Or, with `backend = "redis"`, a Redis / Valkey server shared by replicas (`shared`):
//!   Redis expiry for the TTL, per-path generations for invalidation across replicas.
//! - **Single-flight**: identical misses in flight make one handler call (`flight`).
//! - **Invalidation**: a call to an endpoint that is not informational purges the
//!   entries of its concrete path and of the paths its settings list in `invalidates`,
//!   before and after its handler runs.
//! - Every answer it handles carries `Cache-Status` (the values are listed in `status`);
//!   counters and gauges come out of `Module::metrics`.
//!
//! # Layout
//! - [`config`]: the `[modules.cache]` table; [`factory`]: `FACTORY` (`"cache"`);
//! - [`module`]: the hooks; `store`: the LRU; `shared`: the Redis backend; `flight`:
//!   single-flight; `status`: `Cache-Status`; `metrics`: the counters.
#![warn(missing_docs)]

pub mod config;
pub mod factory;
mod flight;
mod metrics;
pub mod module;
mod shared;
mod status;
mod store;

pub use config::{Backend, CacheConfig, EndpointSettings, RedisConfig};
pub use factory::{CacheFactory, FACTORY};
pub use module::CacheModule;

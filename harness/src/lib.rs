//! `agtpd-harness`: what every test of the workspace that needs a daemon shares.
//!
//! - [`daemon`]: [`TestDaemon`], agtpd in this process (on `127.0.0.1:0`, stopped through
//!   its shutdown future) or as the real binary (its JSON log collected), which is also
//!   how a daemon that supervises runtimes runs;
//! - [`client`]: [`Client`], raw bytes out, AGTP responses parsed by `agtp-core` in;
//! - [`site`]: a test site (an agent, endpoint files, a gateway socket) and requests to it;
//! - [`runtime`]: real runtime processes that misbehave on demand (`misbehaving.py`), and
//!   waiting on a daemon's pools;
//! - [`admin`]: the admin listener seen from a test, `/metrics` checked by the Prometheus
//!   project's own OpenMetrics parser;
//! - [`man`]: man pages checked against `--help`; [`tls`]: test certificates;
//! - [`redis`]: a real `redis-server` for the shared cache, killed and restarted at will;
//! - [`otlp`]: an OTLP/HTTP receiver that keeps the spans a daemon exports;
//! - [`wait`]: conditions instead of sleeps.
//!
//! Dependency rule: a dev-dependency only; it depends on `agtpd` and `agtp-core`.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod admin;
pub mod client;
pub mod daemon;
pub mod man;
pub mod otlp;
pub mod redis;
pub mod runtime;
pub mod site;
pub mod tls;
pub mod wait;

pub use client::{error_code, error_message, Client};
pub use daemon::{message, TestDaemon};
pub use runtime::{pool, ready, until, Runtime, MISBEHAVING};
pub use site::{body, query, write_config, Endpoint, Site, AGENT, AGENT_DOCUMENT};

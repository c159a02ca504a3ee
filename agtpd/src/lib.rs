//! `agtpd`: the AGTP/1.0 daemon, as a library the thin `agtpd` binary launches.
//!
//! Layout (ARCHITECTURE.md has the codemap):
//! - [`cli`] and [`config`]: flags and the layered configuration, which lists the
//!   sections each subsystem owns ([`tls`], [`timeouts`], [`signing`], [`logging`],
//!   [`telemetry`], [`gateway::config`], [`supervisor::config`], [`admin::config`],
//!   [`modules`]);
//!   `error` is [`ConfigError`], `restart` the restart-only keys of a reload;
//! - `server`: [`Daemon`], the composition root: accept loops, connection limit, reload,
//!   drain; `connection`: one client connection; `settings`: what a reload swaps;
//! - `gates` and `handler`: the ordered gates, routing, and step 12 around a handler,
//!   over the site model of the `agtp-site` crate;
//! - [`gateway`]: the runtime gateway (pools of runtime connections over a Unix socket);
//! - [`supervisor`]: the process manager for `[[runtime]]` pools, and the runtime shim;
//! - [`modules`]: the only file that names the compiled-in operational modules;
//!   `pipeline`: runs their phases around each exchange;
//! - `access`, `metrics` and [`admin`]: the access log, `/metrics`, the admin listener
//!   and its client side (`agtpd health`, `agtpd status`);
//! - [`launch`]: binds the listeners and wires the signals; [`commands`]: what `agtpd`
//!   runs instead of serving; [`ExitStatus`]: what its exit codes mean.
//!
//! Dependency rule: agtpd depends on `agtp-core`, `agtp-site`, `runtime-protocol` and
//! `runtime-conformance` (for `agtpd conformance`); `modules` alone names the `mod-*`
//! crates; nothing in the workspace depends on agtpd but test harnesses.

mod access;
pub mod admin;
pub mod cert;
pub mod cli;
pub mod commands;
pub mod config;
mod connection;
mod error;
mod exit;
mod gates;
pub mod gateway;
mod handler;
pub mod launch;
pub mod logging;
mod metrics;
pub mod modules;
mod mtls;
mod pipeline;
pub mod proxy_protocol;
mod restart;
mod server;
mod settings;
pub mod signing;
pub mod supervisor;
pub mod telemetry;
pub mod timeouts;
pub mod tls;

pub use error::ConfigError;
pub use exit::ExitStatus;
pub use server::Daemon;

//! `agtpd`: the AGTP/1.0 daemon, as a library the thin binaries launch.
//!
//! Layout:
//! - [`cli`] and [`config`]: flags and layered configuration (no side effects);
//! - `server`: accept loops, connection limit, reload and drain ([`Daemon`]);
//! - `connection`: one client connection, its deadlines and pipelining;
//! - [`catalog`] and [`path_grammar`]: the verb catalog (459) and path rules (460);
//! - [`agents`] and [`endpoints`]: hosted agent documents and endpoint files;
//! - `policy`: `[policies]` compiled against the catalog;
//! - `site`: catalog, agents, endpoints and policy loaded together (one reload unit);
//! - `gates`: the ordered gates every request passes, and routing;
//! - `handler`: step 12 (the endpoint's scopes, input, modules and handler), and the
//!   modules' turn at a request that routed nowhere;
//! - `manifest`: the Server Manifest, endpoint list and agent index;
//! - `settings`: the reloadable settings a connection uses, and response stamping;
//! - [`gateway`]: the runtime gateway (pools of runtime connections over a Unix socket),
//!   the signing key and `agtpd keygen`;
//! - [`supervisor`]: the process manager for `[[runtime]]` pools, and the runtime shim;
//! - `tls`: rustls, TLS 1.3 only;
//! - [`modules`]: the only file that names the compiled-in operational modules;
//! - `pipeline`: runs the loaded modules' phases around each exchange;
//! - [`launch`]: binds the listeners and wires the signals;
//! - [`admin`]: the admin listener (`/healthz`, `/readyz`, `/metrics`, `/status`) and
//!   its client side, `agtpd health` and `agtpd status`; `metrics`: what `/metrics` says;
//! - [`commands`]: what `agtpd` runs instead of serving (`keygen`, `conformance`,
//!   `audit verify` in `audit_verify`, `--list-modules`, `--check-config`).
//!
//! Dependency rule: agtpd depends on `agtp-core` (and, for the gateway, on
//! `runtime-protocol`; `modules` alone on the `mod-*` crates); nothing in the workspace depends on agtpd.

mod access;
pub mod admin;
pub mod agents;
pub mod agtp;
mod audit_verify;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conformance;
mod connection;
pub mod endpoints;
mod gates;
pub mod gateway;
mod handler;
mod launch;
mod manifest;
mod metrics;
pub mod modules;
pub mod path_grammar;
mod pipeline;
mod policy;
mod server;
mod settings;
mod site;
pub mod supervisor;
mod text;
mod tls;

pub use launch::{launch, serve_blocking, ExitStatus};
pub use server::Daemon;
pub use supervisor::runtime_shim;

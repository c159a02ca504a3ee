//! `mod-proxy`: the `proxy` operational module for agtpd. It forwards requests to
//! upstream AGTP servers: those routed to an endpoint bound with `type = "proxy"`, and,
//! with `catch_all` set, every request that matched no endpoint and no built-in (an edge
//! agtpd in front of internal ones).
//!
//! Dependency rule: depends on `agtp-core` only among workspace crates (never on agtpd or
//! another module); upstream connections are `agtp_core::client`'s pooled keep-alive
//! [`Client`](agtp_core::client::Client).
//!
//! # Layout
//! - [`config`]: the `[modules.proxy]` table; [`binding`]: an endpoint's proxy binding;
//! - `upstream`: upstreams, passive health (ejection) and round-robin order;
//! - `forward`: headers across the hop, `Via` and the 508 refusals, failure answers;
//! - `module`: the hook and the metrics; [`FACTORY`] (`"proxy"`).
//!
//! # Forwarding
//! The method and path the endpoint was routed with (after the daemon's legacy aliases
//! and redirects; catch-all traffic goes as received), query, body and every end-to-end
//! header (the identity headers
//! `Agent-ID`, `Principal-ID`, `Session-ID`, `Task-ID`, `Request-ID`, `Authority-Scope`
//! included) go upstream; hop-by-hop headers (`Connection` and the names it lists,
//! `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-*`) do not. Each
//! proxy appends `Via: AGTP/1.0 {server_id} ({instance})`. A request carrying this
//! daemon's own entry is refused with 508 `loop-detected`; one that already has
//! `max_hops` entries with 508 `too-many-hops`. The upstream's status, body and
//! end-to-end headers come back; the daemon stamps its own `Server-ID` and `Response-ID`.
//!
//! # Failures
//! | what happened | answer |
//! |---|---|
//! | no connection (refused, unreachable, unresolved) | 502 `upstream-unreachable` |
//! | connecting took longer than `connect_timeout` | 504 `upstream-connect-timeout` |
//! | TLS failed | 502 `upstream-tls-failed` |
//! | no whole response within `timeout` | 504 `upstream-timeout` |
//! | the connection closed or broke before the response | 502 `upstream-closed` |
//! | the bytes are not a valid AGTP response | 502 `upstream-bad-response` |
//!
//! Each request gets exactly one answer. The next upstream is tried only when the
//! failed attempt never reached its upstream (no connection was made), or when the
//! endpoint is idempotent and the failure was not a response timeout; catch-all traffic
//! has no endpoint, so only connection failures move it on.

pub mod binding;
pub mod config;
mod forward;
mod module;
mod upstream;

use std::sync::Arc;

use agtp_core::client::{Client, ClientConfig};
use agtp_core::module::{BuildContext, CheckContext, Module, ModuleError, ModuleFactory};
use serde_json::Value;

pub use binding::Binding;
pub use config::ProxyConfig;

/// Builds the `proxy` module from `[modules.proxy]`.
pub struct ProxyFactory;

/// The factory agtpd's module table lists.
pub static FACTORY: ProxyFactory = ProxyFactory;

impl ModuleFactory for ProxyFactory {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn check(&self, config: &Value, _cx: &CheckContext) -> Result<(), ModuleError> {
        ProxyConfig::from_value(config).map(drop).map_err(failed)
    }

    fn handler_kinds(&self) -> &'static [&'static str] {
        &["proxy"]
    }

    fn check_handler(&self, _kind: &str, table: &Value) -> Result<(), ModuleError> {
        Binding::from_value(table).map(drop).map_err(failed)
    }

    fn build(&self, config: &Value, cx: &BuildContext) -> Result<Arc<dyn Module>, ModuleError> {
        let config = ProxyConfig::from_value(config).map_err(failed)?;
        let client = Client::new(ClientConfig {
            max_idle_per_host: config.max_idle_per_upstream,
            tls: config.tls_options().map_err(failed)?,
            ..ClientConfig::default()
        });
        let module = module::ProxyModule::new(config, client, &cx.server_id).map_err(failed)?;
        Ok(Arc::new(module))
    }
}

fn failed(message: String) -> ModuleError {
    ModuleError::new(format!("module `proxy`: {message}"))
}

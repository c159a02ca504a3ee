//! The `[endpoint.handler]` table of a `type = "proxy"` endpoint, as the daemon hands it
//! over (`EndpointFacts::handler_config`, the table without `type`):
//!
//! ```toml
//! [endpoint.handler]
//! type = "proxy"
//! upstream = "agtp://10.0.0.2:4480"      # or upstreams = ["agtp://a:4480", "agtp://b:4480"]
//! connect_timeout = "5s"                 # default 5s
//! timeout = "30s"                        # default 30s: the whole response
//! ```

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{check_duration, check_upstreams, default_connect_timeout, default_timeout};

/// A checked proxy binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The upstream URIs, tried round-robin.
    pub upstreams: Vec<String>,
    /// Connecting (and the TLS handshake) to one upstream.
    pub connect_timeout: Duration,
    /// From the request written to the last byte of the response.
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingTable {
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    upstreams: Option<Vec<String>>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    connect_timeout: Duration,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    timeout: Duration,
}

impl Binding {
    /// Parses and checks the table; the message names the key.
    pub fn from_value(table: &Value) -> Result<Binding, String> {
        let table: BindingTable =
            serde_json::from_value(table.clone()).map_err(|e| format!("`handler`: {e}"))?;
        let upstreams = match (table.upstream, table.upstreams) {
            (Some(one), None) => vec![one],
            (None, Some(list)) => list,
            (Some(_), Some(_)) => {
                return Err("give `handler.upstream` or `handler.upstreams`, not both".into())
            }
            (None, None) => {
                return Err(
                    "a proxy needs `upstream = \"agtp://host:port\"` or `upstreams = [...]`".into(),
                )
            }
        };
        check_upstreams(&upstreams).map_err(|m| format!("`handler.upstreams`: {m}"))?;
        check_duration("handler.connect_timeout", table.connect_timeout)?;
        check_duration("handler.timeout", table.timeout)?;
        Ok(Binding {
            upstreams,
            connect_timeout: table.connect_timeout,
            timeout: table.timeout,
        })
    }
}

#[cfg(test)]
mod tests;

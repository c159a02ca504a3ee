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

/// What agtpd runs on every proxy endpoint's handler table at load.
pub fn check_binding(table: &Value) -> Result<(), String> {
    Binding::from_value(table).map(drop)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_upstream_or_a_list_with_default_timeouts() {
        let one = Binding::from_value(&json!({"upstream": "agtp://127.0.0.1:4481"}));
        assert_eq!(
            one,
            Ok(Binding {
                upstreams: vec!["agtp://127.0.0.1:4481".into()],
                connect_timeout: Duration::from_secs(5),
                timeout: Duration::from_secs(30),
            })
        );
        let many = Binding::from_value(&json!({
            "upstreams": ["agtp://a:1", "agtp://[::1]:2"], "connect_timeout": "250ms", "timeout": "2s"
        }))
        .expect("valid");
        assert_eq!(many.upstreams.len(), 2);
        assert_eq!(many.connect_timeout, Duration::from_millis(250));
        assert_eq!(many.timeout, Duration::from_secs(2));
    }

    #[test]
    fn each_malformed_binding_is_refused_with_its_reason() {
        let too_many: Vec<String> = (1..=65).map(|p| format!("agtp://127.0.0.1:{p}")).collect();
        let cases = [
            (json!({}), "a proxy needs `upstream"),
            (json!({"upstreams": []}), "name at least one upstream"),
            (
                json!({"upstream": "agtp://a", "upstreams": ["agtp://b"]}),
                "not both",
            ),
            (
                json!({"upstream": "http://origin:80"}),
                "`http://`: not an AGTP URI scheme",
            ),
            (json!({"upstream": "origin:4480"}), "not an AGTP URI"),
            (
                json!({"upstream": "agtp://origin:99999"}),
                "the port must be a number",
            ),
            (
                json!({"upstream": "agtp://o/agents/booking"}),
                "name a server only",
            ),
            (json!({"upstream": "agtp://o?x=1"}), "name a server only"),
            (
                json!({"upstreams": ["agtp://a:1", "agtp://a:1"]}),
                "`agtp://a:1` is listed twice",
            ),
            (json!({"upstreams": too_many}), "65 upstreams; at most 64"),
            (
                json!({"upstream": "agtp://a", "timeout": "0s"}),
                "`handler.timeout` must be more than 0",
            ),
            (
                json!({"upstream": "agtp://a", "connect_timeout": "2h"}),
                "`handler.connect_timeout`",
            ),
            (
                json!({"upstream": "agtp://a", "url": "agtp://b"}),
                "unknown field `url`",
            ),
        ];
        for (table, expected) in cases {
            let error = Binding::from_value(&table).expect_err("refused");
            assert!(error.contains(expected), "{table}: {error}");
        }
    }
}

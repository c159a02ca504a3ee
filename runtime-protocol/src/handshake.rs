//! Handshake and registration frames: hello, welcome, register, register_resume, register_ack
//! (PROTOCOL.md §6, §7).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::manifest_hash;
use crate::constants::DEFAULT_POOL;

/// `hello`: the runtime's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol versions the runtime speaks, most preferred first.
    pub gateway_versions: Vec<String>,
    /// Who is connecting.
    pub module: ModuleInfo,
    /// Capability tags the runtime claims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// `manifest_hash` of the last registration this runtime applied and cached, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_manifest_hash: Option<String>,
}

/// `hello.module`: identity of the connecting runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleInfo {
    /// Short identifier, for logs (e.g. `mod_python`).
    pub id: String,
    /// Version of the runtime implementation, for logs.
    pub version: String,
    /// Free-form description of the language runtime, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Process id, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// Pool the connection joins; see [`ModuleInfo::pool_name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

impl ModuleInfo {
    /// The pool this connection belongs to: `pool`, or [`DEFAULT_POOL`] when absent.
    pub fn pool_name(&self) -> &str {
        self.pool.as_deref().unwrap_or(DEFAULT_POOL)
    }
}

/// `welcome`: the daemon accepts the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The version chosen from `hello.gateway_versions`, used for the rest of the connection.
    pub gateway_version: String,
    /// Who answered.
    pub daemon: DaemonInfo,
    /// Capabilities granted: those claimed in `hello` that the daemon supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// `welcome.daemon`: identity of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Daemon name and version, for logs.
    pub version: String,
    /// The daemon's server id.
    pub server_id: String,
    /// Version of the AGTP method catalog the daemon uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_version: Option<String>,
}

/// `register`: the complete endpoint set of the runtime's pool, with the schemas it references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    /// `sha256:<hex>` over `endpoints` and `schemas`; see [`Register::new`].
    pub manifest_hash: String,
    /// The endpoints this connection serves.
    pub endpoints: Vec<EndpointSpec>,
    /// JSON Schema documents keyed by the label the `*_schema_ref` fields point at.
    #[serde(default)]
    pub schemas: Map<String, Value>,
}

impl Register {
    /// Builds the frame and its `manifest_hash`: [`manifest_hash`] of the object
    /// `{"endpoints": <endpoints>, "schemas": <schemas>}` (PROTOCOL.md §7.3).
    pub fn new(endpoints: Vec<EndpointSpec>, schemas: Map<String, Value>) -> Self {
        let manifest_hash = Self::hash_of(&endpoints, &schemas);
        Register {
            manifest_hash,
            endpoints,
            schemas,
        }
    }

    /// The manifest hash of an endpoint set, as [`Register::new`] computes it.
    pub fn hash_of(endpoints: &[EndpointSpec], schemas: &Map<String, Value>) -> String {
        let manifest = serde_json::json!({ "endpoints": endpoints, "schemas": schemas });
        manifest_hash(&manifest)
    }
}

/// One entry of `register.endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// AGTP method (upper case).
    pub method: String,
    /// Path pattern.
    pub path: String,
    /// Which handler serves it; only the runtime interprets this string.
    pub handler_reference: String,
    /// Reference to the input schema, `#/schemas/<label>`.
    pub input_schema_ref: String,
    /// Reference to the output schema, `#/schemas/<label>`.
    pub output_schema_ref: String,
    /// The `endpoint_error` codes this endpoint may return.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Scopes the daemon already enforced; informational for the runtime.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
}

impl EndpointSpec {
    /// The `"<METHOD> <path>"` key used in `register_ack.resolved` and `.errors[].endpoint`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// `register_resume`: the runtime's cached endpoint set (same hash) is still current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResume {
    /// Equal to the `hello.cached_manifest_hash` the runtime sent.
    pub manifest_hash: String,
}

/// `register_ack`: the runtime's answer to `register` or `register_resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAck {
    /// `true` when every endpoint resolved; `false` closes the connection.
    pub ok: bool,
    /// On success: the `"<METHOD> <path>"` keys the runtime bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<String>,
    /// On failure: one entry per endpoint that did not resolve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RegistrationFailure>,
}

/// One entry of `register_ack.errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationFailure {
    /// `"<METHOD> <path>"` of the endpoint.
    pub endpoint: String,
    /// Short machine-readable reason, e.g. `handler_not_found`.
    pub reason: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

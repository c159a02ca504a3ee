//! The operational-module API: what `mod-audit`, `mod-cache`, `mod-proxy` (and any module
//! compiled into agtpd) implement, and what the daemon calls.
//!
//! Modules depend on this crate, never on the daemon. The daemon builds every selected
//! module once at start-up ([`ModuleFactory::build`]) and shares it between connections.
//!
//! # Phases
//!
//! | phase | when | order | may stop the chain | runs after a refusal or error |
//! |---|---|---|---|---|
//! | [`Module::on_request`] | after the gates admitted and routed the request and its input validated; or, with [`Cx::endpoint`] `None`, for an admitted request no endpoint and no built-in serves, before its 404/405 | load order | yes: [`Flow::Respond`] | no |
//! | the handler (runtime gateway), or the 404/405 of an unrouted request | if no module responded | - | - | - |
//! | [`Module::on_response`] | after the handler or a module answered | reverse load order, only modules whose `on_request` ran | no | no |
//! | [`Module::on_complete`] | once the final response is known, before it is written | load order, every module | no | **yes, exactly once per exchange** |
//!
//! A hook that returns an error, or panics, becomes 500 `module-error` naming the module;
//! the daemon keeps serving. `on_complete` cannot fail. Gate refusals and the built-ins
//! (DISCOVER, DESCRIBE) reach `on_complete` only. An unrouted request has passed every
//! gate that does not need an endpoint (catalog, path grammar, verb policy, identity,
//! agent lifecycle, soft-deny, scope claim); endpoint scopes and input validation cannot
//! apply to it.
//!
//! Recommended order: `audit` first (it sees every exchange and its real wire status
//! either way), then `cache`, then `proxy`, so that a cache hit short-circuits before a
//! proxy call and proxied answers can be cached on their way back.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::{Headers, Request, Response};

/// What [`Module::on_request`] decided.
#[derive(Debug)]
pub enum Flow {
    /// Hand the request on: to the next module, finally to the handler.
    Continue,
    /// Answer now. The response travels back through the modules already entered.
    Respond(Response),
}

/// A module failure. The daemon answers 500 `module-error` and logs the message with the
/// module's name.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ModuleError(pub String);

impl ModuleError {
    /// An error with a lowercase message.
    pub fn new(message: impl Into<String>) -> Self {
        ModuleError(message.into())
    }
}

/// What the gates learnt about the endpoint a request was routed to.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointFacts {
    /// The endpoint's verb.
    pub method: String,
    /// The endpoint's path template, e.g. `/rooms/{room_id}`.
    pub path: String,
    /// The concrete path that was routed to it (after any redirect), e.g. `/rooms/101`.
    pub request_path: String,
    /// `informational`, `reversible` or `irreversible`.
    pub impact: String,
    /// The author's idempotency declaration.
    pub idempotent: bool,
    /// The handler kind, e.g. `registered_function` or `proxy`.
    pub handler: String,
    /// The handler's settings for the module that serves this kind, as the daemon
    /// validated them (for `proxy`: `upstreams`, `connect_timeout_ms`, `timeout_ms`);
    /// `null` for kinds the daemon runs itself.
    pub handler_config: Value,
}

/// The client certificate a connection presented and the TLS handshake verified, with
/// the AGTP extensions it carries (each `None` when absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentCertificate {
    /// The identity it proves: its `subject-agent-id` extension, else the lower-case hex
    /// SHA-256 of its Ed25519 public key.
    pub agent_id: String,
    /// Lower-case hex SHA-256 of the certificate's DER.
    pub fingerprint: String,
    /// `subject-agent-id`.
    pub subject_agent_id: Option<String>,
    /// `principal-id`.
    pub principal_id: Option<String>,
    /// `authority-scope-commitment`: the scopes this agent may ever claim.
    pub authority_scopes: Option<Vec<String>>,
    /// `governance-zone`.
    pub governance_zone: Option<String>,
    /// `trust-tier`, 1 to 3.
    pub trust_tier: Option<u8>,
    /// `archetype`.
    pub archetype: Option<String>,
    /// `activation-certificate-id`.
    pub activation_certificate_id: Option<String>,
}

impl AgentCertificate {
    /// The extensions present, as runtimes receive them (`agent_cert_extensions`).
    pub fn extensions(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(key.to_owned(), value);
            }
        };
        put(
            "subject_agent_id",
            self.subject_agent_id.clone().map(Value::from),
        );
        put("principal_id", self.principal_id.clone().map(Value::from));
        put(
            "authority_scopes",
            self.authority_scopes.clone().map(Value::from),
        );
        put(
            "governance_zone",
            self.governance_zone.clone().map(Value::from),
        );
        put("trust_tier", self.trust_tier.map(Value::from));
        put("archetype", self.archetype.clone().map(Value::from));
        put(
            "activation_certificate_id",
            self.activation_certificate_id.clone().map(Value::from),
        );
        map
    }
}

/// Per-exchange context shared by the modules and the daemon.
#[derive(Debug, Default)]
pub struct Cx {
    /// The `Response-ID` the exchange's response will carry, chosen when the request
    /// arrives: the runtime call carries it as its `request_id`, so the access log, the
    /// audit record and the runtime's own log name the exchange alike. Empty only in a
    /// context built outside the daemon.
    pub response_id: String,
    /// The resolved agent id, when one was addressed.
    pub agent_id: Option<String>,
    /// The agent's principal, when known.
    pub principal_id: Option<String>,
    /// The endpoint the request was routed to; `None` in `on_request` for a request that
    /// routed nowhere (which a module may answer instead of the 404/405), and in
    /// `on_complete` for built-ins, refusals and unrouted requests.
    pub endpoint: Option<EndpointFacts>,
    /// The validated input (path parameters, query and body merged), when there is one.
    pub input: Option<Value>,
    /// The handler's `attribution_extra` (a JSON object), once a runtime's reply carried
    /// one: metadata the handler wants in the exchange's audit record and
    /// `Attribution-Record` (`extra`).
    pub attribution_extra: Option<Value>,
    /// The client's address: the TCP peer, or what a trusted load balancer's PROXY
    /// header said.
    pub client_address: Option<std::net::SocketAddr>,
    /// The connection's verified client certificate (mTLS), when it presented one.
    pub certificate: Option<Arc<AgentCertificate>>,
    extensions: Extensions,
}

impl Cx {
    /// Typed per-request state a module keeps between its hooks.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Mutable access to the typed state.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}

/// A map from type to one value of that type.
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl Extensions {
    /// Stores `value`, replacing any previous value of its type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T`, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }

    /// Removes and returns the value of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        let boxed = self.0.remove(&TypeId::of::<T>())?;
        boxed.downcast().ok().map(|b| *b)
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.0.len())
            .finish()
    }
}

/// A finished exchange, as [`Module::on_complete`] sees it.
pub struct Completion<'a> {
    /// The request; `None` when the bytes never parsed as one (a 400 from the wire).
    pub request: Option<&'a Request>,
    /// The response exactly as it will be written (status, headers, body).
    pub response: &'a Response,
    /// Headers a module adds to that response (e.g. `Audit-ID`).
    pub added_headers: &'a mut Headers,
    /// The exchange context.
    pub cx: &'a Cx,
    /// Time since the request's first byte.
    pub elapsed: Duration,
}

/// Signs with the daemon's key. The private key never leaves the daemon.
pub trait Signer: Send + Sync {
    /// The key id (`kid`) verifiers look the public key up by.
    fn key_id(&self) -> &str;
    /// The raw 32-byte Ed25519 public key.
    fn public_key(&self) -> [u8; 32];
    /// An Ed25519 signature over `message`.
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// What a module gets when it is built.
#[derive(Clone, Default)]
pub struct BuildContext {
    /// The daemon's `Server-ID`.
    pub server_id: String,
    /// The daemon's signing key, when one is configured.
    pub signer: Option<Arc<dyn Signer>>,
}

impl BuildContext {
    /// What [`ModuleFactory::check`] is told about this daemon.
    pub fn check_context(&self) -> CheckContext {
        CheckContext {
            signing: self.signer.is_some(),
        }
    }
}

/// What a module's configuration check may rely on, known before anything is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckContext {
    /// Whether the daemon has a signing key (`[signing] key_file`).
    pub signing: bool,
}

/// An operational module. Every hook has a no-op default.
#[async_trait]
pub trait Module: Send + Sync + 'static {
    /// The name `--load-module` selects it by.
    fn name(&self) -> &'static str;

    /// Runs in load order for an admitted request. The default continues.
    async fn on_request(&self, _request: &mut Request, _cx: &mut Cx) -> Result<Flow, ModuleError> {
        Ok(Flow::Continue)
    }

    /// Runs in reverse load order, only if this module's `on_request` ran. The default
    /// leaves the response alone.
    async fn on_response(&self, _response: &mut Response, _cx: &mut Cx) -> Result<(), ModuleError> {
        Ok(())
    }

    /// Runs exactly once per exchange for every module, whatever happened. The default
    /// does nothing.
    async fn on_complete(&self, _done: &mut Completion<'_>) {}

    /// Called once when the daemon reopens its files (SIGHUP), e.g. after logrotate.
    fn reopen(&self) {}

    /// The module's own metrics, read on every scrape of the daemon's `/metrics`. The
    /// default exports none.
    fn metrics(&self) -> Vec<ModuleMetric> {
        Vec::new()
    }
}

/// Whether a [`ModuleMetric`] only grows or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic; the name ends in `_total`.
    Counter,
    /// A current value, e.g. entries held.
    Gauge,
}

/// One sample a module exports. The daemon prefixes the name with `agtpd_` and groups
/// samples of the same name into one metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleMetric {
    /// Prometheus-style name without the `agtpd_` prefix, e.g. `cache_hits_total`.
    pub name: &'static str,
    /// One line of help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Label pairs, e.g. `[("upstream", "agtp://10.0.0.2:4480")]`; often empty.
    pub labels: Vec<(&'static str, String)>,
    /// The current value.
    pub value: u64,
}

/// Builds a module from its `[modules.NAME]` table. Listed in agtpd's module table; the
/// daemon learns everything about a module through this trait.
pub trait ModuleFactory: Send + Sync + 'static {
    /// The name `--load-module` selects it by.
    fn name(&self) -> &'static str;
    /// Checks the module's table (an empty object when absent) with no side effects:
    /// nothing is opened or started, as `--check-config` promises. Unknown keys must be
    /// refused. [`ModuleFactory::build`] accepts exactly what this accepts.
    fn check(&self, config: &Value, cx: &CheckContext) -> Result<(), ModuleError>;
    /// The endpoint handler types (`[endpoint.handler] type`) the module serves in
    /// `on_request`. The default: none.
    fn handler_kinds(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks an endpoint's handler table (without `type`) of one of
    /// [`ModuleFactory::handler_kinds`]. The default accepts it.
    fn check_handler(&self, _kind: &str, _table: &Value) -> Result<(), ModuleError> {
        Ok(())
    }
    /// Builds the module, which may open its files here.
    fn build(&self, config: &Value, cx: &BuildContext) -> Result<Arc<dyn Module>, ModuleError>;
}

#[cfg(test)]
mod tests;

//! One loaded endpoint: its contract, its compiled validators and its handler binding.
//!
//! An [`Endpoint`] only exists once every rule has been checked (`build.rs`), so the
//! accessors here cannot fail. Request-time work lives in `input.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agtp_core::AgtpError;
use serde_json::{json, Value};

use super::semantic::Semantic;
use super::spec::ParamType;
use super::template::Segment;

/// What runs a request once the daemon has checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerBinding {
    /// A function a runtime process resolves by name.
    RegisteredFunction {
        /// The handler name; opaque to agtpd, interpreted by the runtime.
        function: String,
        /// The runtime pool that serves the call.
        runtime: String,
        /// How long one call may take before the daemon gives up on it.
        timeout: Duration,
    },
    /// Forwarded to another AGTP server by the `proxy` module.
    Proxy {
        /// The `[endpoint.handler]` table without `type`, as JSON; the module defines
        /// and checks its keys (`upstream`/`upstreams`, timeouts).
        config: Value,
    },
}

impl HandlerBinding {
    /// The `type` an endpoint file gives for this binding.
    pub fn kind(&self) -> &'static str {
        match self {
            HandlerBinding::RegisteredFunction { .. } => "registered_function",
            HandlerBinding::Proxy { .. } => "proxy",
        }
    }

    /// What the module serving this kind needs to know (`EndpointFacts::handler_config`);
    /// `null` for the kinds the daemon runs itself.
    pub fn module_config(&self) -> Value {
        match self {
            HandlerBinding::RegisteredFunction { .. } => Value::Null,
            HandlerBinding::Proxy { config } => config.clone(),
        }
    }
}

/// A validated endpoint: a `(method, path)` pair and the contract served there.
#[derive(Debug)]
pub struct Endpoint {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) description: String,
    pub(super) namespace: Option<String>,
    pub(super) semantic: Semantic,
    pub(super) errors: Vec<String>,
    pub(super) required_scopes: Vec<String>,
    pub(super) handler: HandlerBinding,
    pub(super) input_schema: Value,
    pub(super) output_schema: Value,
    pub(super) input_validator: jsonschema::Validator,
    pub(super) output_validator: jsonschema::Validator,
    /// Declared input types, for coercing path and query strings.
    pub(super) param_types: HashMap<String, ParamType>,
    /// The path split into literal and `{param}` segments, for the router.
    pub(super) segments: Vec<Segment>,
    pub(super) source_file: PathBuf,
}

impl Endpoint {
    /// The AGTP verb, upper-case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path as declared, `{param}` templates included.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The operator-facing description; empty when the file gives none.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The free-form grouping label, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The semantic block.
    pub fn semantic(&self) -> &Semantic {
        &self.semantic
    }

    /// Whether the author declared repeated calls safe (`semantic.is_idempotent`).
    pub fn is_idempotent(&self) -> bool {
        self.semantic.is_idempotent
    }

    /// The error names a handler may answer with, in file order.
    pub fn declared_errors(&self) -> &[String] {
        &self.errors
    }

    /// Whether `code` is one of the declared error names.
    pub fn is_declared_error(&self, code: &str) -> bool {
        self.errors.iter().any(|declared| declared == code)
    }

    /// The scopes a caller must hold, in file order.
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// What runs the request.
    pub fn handler(&self) -> &HandlerBinding {
        &self.handler
    }

    /// The JSON Schema (2020-12) the merged input must satisfy.
    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    /// The JSON Schema (2020-12) a handler's answer must satisfy.
    pub fn output_schema(&self) -> &Value {
        &self.output_schema
    }

    /// The file the endpoint was loaded from.
    pub fn source_file(&self) -> &Path {
        &self.source_file
    }

    /// `METHOD /path`, as messages name the endpoint.
    pub(super) fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The 262 `scope-required` refusal when `held` lacks a required scope; `None` when
    /// every required scope is held. Details: `required` (all) and `missing` (file order).
    pub fn required_scope_error(&self, held: &[String]) -> Option<AgtpError> {
        let missing: Vec<&str> = self
            .required_scopes
            .iter()
            .filter(|scope| !held.contains(scope))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return None;
        }
        let subject = format!(
            "`{}` requires the scope{}",
            self.label(),
            if missing.len() == 1 { "" } else { "s" },
        );
        Some(
            crate::agents::scope_required(subject, &missing)
                .with_detail("required", json!(self.required_scopes))
                .with_detail("missing", json!(missing)),
        )
    }

    /// The lightweight `{method, path, description}` entry `DISCOVER /methods` lists.
    pub fn summary(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "description": self.description,
        })
    }

    /// The entry the server manifest's `endpoints` array carries: the whole public
    /// contract (semantic block, schemas, errors, scopes, handler kind and name). The
    /// runtime pool and timeout are deployment details and stay out.
    pub fn manifest_entry(&self) -> Value {
        // Upstream addresses are deployment details too: the manifest shows the kind only.
        let handler = match &self.handler {
            HandlerBinding::RegisteredFunction { function, .. } => {
                json!({"type": "registered_function", "function": function})
            }
            HandlerBinding::Proxy { .. } => json!({"type": "proxy"}),
        };
        let mut entry = json!({
            "method": self.method,
            "path": self.path,
            "description": self.description,
            "semantic": self.semantic.manifest_value(),
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "errors": self.errors,
            "required_scopes": self.required_scopes,
            "handler": handler,
        });
        if let (Some(namespace), Some(map)) = (&self.namespace, entry.as_object_mut()) {
            map.insert("namespace".into(), Value::from(namespace.as_str()));
        }
        entry
    }
}

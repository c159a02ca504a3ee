//! The endpoint table: which `(method, path)` pairs this server serves, under which
//! contract, and which handler runs them.
//!
//! Operators declare one endpoint per TOML file in an endpoint directory
//! ([`EndpointTable::load_dir`]). Loading is strict and checks everything up front: the
//! method against the [`Catalog`], the path against the path grammar, the semantic block,
//! the parameters, the handler binding; it compiles the input and output JSON Schemas
//! once. At request time the table routes ([`EndpointTable::route`]), and the endpoint
//! builds and validates its input ([`Endpoint::build_input`]) and checks what the handler
//! answered ([`Endpoint::validate_output`]).
//!
//! Layout:
//! - `spec.rs`: the file format as serde reads it (unknown keys refused);
//! - `semantic.rs`: the semantic block ([`Semantic`], [`Actor`], [`Capability`], [`Impact`]);
//! - `build.rs`: the rules, from a parsed file to an [`Endpoint`];
//! - `schema.rs`: generated schemas and validation failures as error answers;
//! - `load.rs`: reading files, and [`EndpointLoadError`]; `problem.rs`: the rules a
//!   file can break ([`EndpointProblem`]);
//! - `endpoint.rs`: [`Endpoint`] and its accessors, manifest and discovery entries;
//! - `input.rs`: merging body, query and path into the input, with type coercion;
//! - `router.rs`: the route index and [`Route`]; `template.rs`: path templates and
//!   percent-decoding.
//!
//! Decisions where the file format documentation is silent:
//! - `required_scopes = [...]` sits in `[endpoint]`; `[endpoint.handler]` adds `runtime`
//!   (pool name, default `default`) and `timeout` (humantime, default 30s, at most 1h);
//! - `type = "proxy"` bindings are served by the `proxy` module, which defines and checks
//!   the rest of their table; the site (`site.rs`) has the module check it at load, and
//!   refuses it when that module is not loaded;
//! - legacy HTTP verbs are refused as endpoint methods;
//! - every `[[endpoint.output]]` field is required in the output; extra fields are allowed;
//! - a `{param}` of the path must be declared in `[[endpoint.input.required]]` with a
//!   scalar type; two templates differing only in parameter names are duplicates;
//! - a request whose method does not match at the path, but another method's endpoint
//!   does, is `MethodNotAllowed`; literal precedence applies within one method.

use std::path::Path;

use crate::catalog::Catalog;

mod build;
mod endpoint;
mod input;
mod load;
mod problem;
mod router;
mod schema;
mod semantic;
mod spec;
mod template;

#[cfg(test)]
mod tests;

pub use endpoint::{Endpoint, HandlerBinding};
pub use load::{EndpointLoadError, MAX_ENDPOINT_FILE_BYTES};
pub use problem::EndpointProblem;
pub use router::Route;
pub use semantic::{Actor, Capability, Impact, Semantic};

/// Every endpoint the server serves, indexed for routing.
#[derive(Debug, Default)]
pub struct EndpointTable {
    endpoints: Vec<Endpoint>,
    router: router::Router,
}

impl EndpointTable {
    /// A table with no endpoints.
    pub fn empty() -> EndpointTable {
        EndpointTable::default()
    }

    /// A table of `endpoints`; refuses two endpoints with the same method and path shape
    /// (`/rooms/{id}` and `/rooms/{room_id}` are the same shape).
    pub fn new(endpoints: Vec<Endpoint>) -> Result<EndpointTable, EndpointLoadError> {
        let mut seen = std::collections::HashMap::new();
        for (index, endpoint) in endpoints.iter().enumerate() {
            let shape: Vec<Option<&str>> = endpoint
                .segments
                .iter()
                .map(|segment| match segment {
                    template::Segment::Literal(text) => Some(text.as_str()),
                    template::Segment::Param(_) => None,
                })
                .collect();
            if let Some(&first) = seen.get(&(endpoint.method(), shape.clone())) {
                let first: &Endpoint = &endpoints[first];
                return Err(EndpointLoadError::Duplicate {
                    method: first.method().to_owned(),
                    path: first.path().to_owned(),
                    first: first.source_file().to_owned(),
                    second: endpoint.source_file().to_owned(),
                });
            }
            seen.insert((endpoint.method(), shape), index);
        }
        let router = router::Router::new(&endpoints);
        Ok(EndpointTable { endpoints, router })
    }

    /// Loads every `*.toml` file directly in `dir` (sorted by name; dot-files skipped; no
    /// recursion). The first file that fails stops the load; its error names the file.
    pub fn load_dir(dir: &Path, catalog: &Catalog) -> Result<EndpointTable, EndpointLoadError> {
        let endpoints = load::endpoint_files(dir)?
            .iter()
            .map(|file| load::load_file(file, catalog))
            .collect::<Result<Vec<_>, _>>()?;
        EndpointTable::new(endpoints)
    }

    /// Where `method path` goes; `path` is the request path without its query string,
    /// still percent-encoded.
    pub fn route(&self, method: &str, path: &str) -> Route<'_> {
        self.router.route(&self.endpoints, method, path)
    }

    /// The endpoints, in load order (file name order for [`EndpointTable::load_dir`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Endpoint> + '_ {
        self.endpoints.iter()
    }

    /// Whether an endpoint is served by a runtime pool through the gateway.
    pub fn needs_runtimes(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| matches!(e.handler(), HandlerBinding::RegisteredFunction { .. }))
    }

    /// How many endpoints the table holds.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether the table holds no endpoint.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

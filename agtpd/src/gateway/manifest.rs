//! The `register` frame of each pool, built from the endpoint table (PROTOCOL.md §7.1).
//!
//! Schema labels are `<method>.<path segments joined by dots>.input` / `.output` in lower
//! case, so they read well in a runtime's logs and never contain `/` or `~` (which a JSON
//! Pointer would have to escape); two endpoints whose labels would collide get the
//! endpoint's position appended.

use std::collections::{BTreeMap, HashSet};

use runtime_protocol::{EndpointSpec, Register};
use serde_json::Map;

use crate::endpoints::{EndpointTable, HandlerBinding};

/// Every pool the table names, with its `register` frame (hash included).
pub(super) fn pool_manifests(table: &EndpointTable) -> BTreeMap<String, Register> {
    let mut pools: BTreeMap<&str, (Vec<EndpointSpec>, Map<String, serde_json::Value>)> =
        BTreeMap::new();
    let mut labels = HashSet::new();
    for (index, endpoint) in table.iter().enumerate() {
        let (function, runtime) = match endpoint.handler() {
            HandlerBinding::RegisteredFunction {
                function, runtime, ..
            } => (function, runtime),
            // Served by the `proxy` module; no runtime ever sees it.
            HandlerBinding::Proxy { .. } => continue,
        };
        let mut label = format!(
            "{}{}",
            endpoint.method().to_ascii_lowercase(),
            endpoint.path().replace(['/', '~'], ".")
        );
        if !labels.insert(label.clone()) {
            label = format!("{label}.{index}");
            labels.insert(label.clone());
        }
        let (endpoints, schemas) = pools.entry(runtime.as_str()).or_default();
        let input = format!("{label}.input");
        let output = format!("{label}.output");
        endpoints.push(EndpointSpec {
            method: endpoint.method().to_owned(),
            path: endpoint.path().to_owned(),
            handler_reference: function.clone(),
            input_schema_ref: format!("#/schemas/{input}"),
            output_schema_ref: format!("#/schemas/{output}"),
            errors: endpoint.declared_errors().to_vec(),
            required_scopes: endpoint.required_scopes().to_vec(),
        });
        schemas.insert(input, endpoint.input_schema().clone());
        schemas.insert(output, endpoint.output_schema().clone());
    }
    pools
        .into_iter()
        .map(|(name, (endpoints, schemas))| (name.to_owned(), Register::new(endpoints, schemas)))
        .collect()
}

/// The registration of a pool no endpoint names.
pub(super) fn empty() -> Register {
    Register::new(Vec::new(), Map::new())
}

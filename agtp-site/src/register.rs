//! The `register` frame of each runtime pool, built from the endpoint table
//! (PROTOCOL.md §7.1). The daemon pushes one per pool; the conformance checker registers
//! the endpoints it checks with the same frame.
//!
//! Schema labels are `<method>.<path segments joined by dots>.input` / `.output` in lower
//! case, so they read well in a runtime's logs and never contain `/` or `~` (which a JSON
//! Pointer would have to escape); two endpoints whose labels would collide get the
//! endpoint's position appended.

use std::collections::BTreeMap;

use runtime_protocol::{EndpointSpec, Register};
use serde_json::Map;

use crate::endpoints::{Endpoint, EndpointTable, HandlerBinding};

/// Every pool the table names, with its `register` frame (hash included). Endpoints no
/// runtime serves (`proxy`) are in none.
pub fn pool_registrations(table: &EndpointTable) -> BTreeMap<String, Register> {
    let mut pools: BTreeMap<&str, Vec<&Endpoint>> = BTreeMap::new();
    for endpoint in table.iter() {
        if let HandlerBinding::RegisteredFunction { runtime, .. } = endpoint.handler() {
            pools.entry(runtime.as_str()).or_default().push(endpoint);
        }
    }
    pools
        .into_iter()
        .map(|(name, endpoints)| (name.to_owned(), registration(endpoints)))
        .collect()
}

/// One `register` frame for `endpoints`, whatever their pools; those no runtime serves
/// are left out.
pub fn registration<'a>(endpoints: impl IntoIterator<Item = &'a Endpoint>) -> Register {
    let mut specs = Vec::new();
    let mut schemas = Map::new();
    for (index, endpoint) in endpoints.into_iter().enumerate() {
        let HandlerBinding::RegisteredFunction { function, .. } = endpoint.handler() else {
            continue;
        };
        let mut label = format!(
            "{}{}",
            endpoint.method().to_ascii_lowercase(),
            endpoint.path().replace(['/', '~'], ".")
        );
        if schemas.contains_key(&format!("{label}.input")) {
            label = format!("{label}.{index}");
        }
        let (input, output) = (format!("{label}.input"), format!("{label}.output"));
        specs.push(EndpointSpec {
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
    Register::new(specs, schemas)
}

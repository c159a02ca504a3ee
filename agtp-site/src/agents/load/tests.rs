//! Our schema: what it refuses and how, and that the samples also satisfy the reference
//! schema (read from `../shared` at test time as an oracle, never compiled in).

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use super::super::tests::{booking_with, sample, SAMPLES};
use super::super::*;

/// The upstream schema, read only at test time.
const REFERENCE_SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/schemas/agent-document.schema.json"
);

#[test]
fn every_sample_validates_against_our_schema_and_the_reference_schema() {
    let reference: Value = serde_json::from_str(
        &fs::read_to_string(REFERENCE_SCHEMA).expect("the reference schema is beside the clone"),
    )
    .expect("reference schema is JSON");
    let reference = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&reference)
        .expect("reference schema compiles");
    let agents = AgentDirectory::load(Path::new(SAMPLES)).expect("samples load");
    for agent in agents.iter() {
        let errors: Vec<String> = reference
            .iter_errors(agent.document())
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", agent.name());
    }
}

#[test]
fn unknown_keys_statuses_and_malformed_ids_are_schema_violations() {
    let cases = [
        ("colour", json!("blue"), ""),
        ("status", json!("paused"), "/status"),
        ("agent_id", json!("D544C8B8"), "/agent_id"),
        ("issued_at", json!("yesterday"), "/issued_at"),
    ];
    for (key, value, pointer) in cases {
        match from_document(booking_with(key, value)) {
            Err(AgentProblem::Schema {
                pointer: p,
                migrated: false,
                ..
            }) => {
                assert_eq!(p, pointer, "{key}")
            }
            other => panic!("{key}: expected a schema violation, got {other:?}"),
        }
    }
    let root = from_document(booking_with("colour", json!("blue"))).expect_err("unknown");
    assert!(
        root.to_string()
            .starts_with("schema violation at the document root: "),
        "{root}"
    );
}

#[test]
fn a_migrated_document_that_violates_the_schema_says_it_was_migrated() {
    let mut v1 = sample("front-desk.agent.json");
    v1["capabilities"] = json!(["query"]);
    let problem = from_document(v1).expect_err("lower-case verb");
    assert!(matches!(
        problem,
        AgentProblem::Schema { migrated: true, .. }
    ));
    let message = problem.to_string();
    assert!(
        message.contains("`/requires/methods/0` (after v1 to v2 migration)"),
        "{message}"
    );
}

#[test]
fn the_compiled_in_schema_is_valid_json_schema() {
    let schema: Value = serde_json::from_str(AGENT_DOCUMENT_SCHEMA).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::draft202012::new(&schema).expect("compiles");
}

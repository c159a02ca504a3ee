//! The booking samples load, and a loaded endpoint answers its accessors, manifest and
//! discovery entries and scope check. Shared helpers for the other test files live here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agtp_core::Status;
use serde_json::json;

use super::*;

/// `samples/booking/endpoints` in the workspace.
pub(super) fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/booking/endpoints")
}

/// A valid endpoint file for `method path` with `extra` appended inside `[endpoint]`
/// (before any sub-table), and `tail` appended at the end.
pub(super) fn endpoint_toml(method: &str, path: &str, extra: &str, tail: &str) -> String {
    format!(
        r#"[endpoint]
method = "{method}"
path = "{path}"
description = "test endpoint"
{extra}

[endpoint.semantic]
intent = "Test something."
actor = "agent"
outcome = "Something is tested."
capability = "retrieval"
confidence = 0.9
impact = "informational"
is_idempotent = true

[endpoint.handler]
type = "registered_function"
function = "tests.handler"

{tail}"#
    )
}

/// Parses `text` as the file `name.toml`, with the embedded catalog.
pub(super) fn parse(text: &str) -> Result<Endpoint, EndpointLoadError> {
    Endpoint::from_toml_str(text, Path::new("test.toml"), &Catalog::embedded())
}

/// An endpoint from `text`, which must be valid.
pub(super) fn endpoint(text: &str) -> Endpoint {
    parse(text).unwrap_or_else(|error| panic!("test endpoint must load: {error}"))
}

fn samples() -> EndpointTable {
    EndpointTable::load_dir(&sample_dir(), &Catalog::embedded())
        .unwrap_or_else(|error| panic!("samples must load: {error}"))
}

#[test]
fn the_booking_samples_load_with_their_declared_contracts() {
    let table = samples();
    let listed: Vec<(&str, &str)> = table.iter().map(|e| (e.method(), e.path())).collect();
    assert_eq!(
        listed,
        [
            ("BOOK", "/rooms/{room_id}"),
            ("CANCEL", "/bookings/{booking_id}"),
            ("FETCH", "/bookings/{booking_id}"),
            ("QUERY", "/rooms/availability"),
            ("QUERY", "/rooms/occupancy-outlook"),
        ]
    );
    assert_eq!(table.len(), 5);

    let Route::Found { endpoint: book, .. } = table.route("BOOK", "/rooms/12") else {
        panic!("BOOK /rooms/12 must route");
    };
    assert_eq!(
        book.declared_errors(),
        ["room_unavailable", "invalid_dates"]
    );
    assert!(book.is_declared_error("invalid_dates"));
    assert!(!book.is_declared_error("booking_not_found"));
    assert_eq!(book.required_scopes(), ["bookings:write"]);
    assert_eq!(book.semantic().impact, Impact::Irreversible);
    assert_eq!(book.semantic().capability, Capability::Transaction);
    assert_eq!(book.semantic().actor, Actor::Agent);
    assert!(!book.is_idempotent());
    assert!(book.source_file().ends_with("book_room.toml"));

    let Route::Found {
        endpoint: fetch, ..
    } = table.route("FETCH", "/bookings/b-1")
    else {
        panic!("FETCH /bookings/b-1 must route");
    };
    assert_eq!(
        fetch.declared_errors(),
        ["booking_not_found"],
        "bare-array form"
    );
    assert_eq!(fetch.required_scopes(), ["bookings:read"]);

    let Route::Found {
        endpoint: cancel, ..
    } = table.route("CANCEL", "/bookings/b-1")
    else {
        panic!("CANCEL /bookings/b-1 must route");
    };
    assert!(cancel.is_idempotent());
    assert_eq!(cancel.semantic().impact, Impact::Reversible);
}

#[test]
fn sample_handlers_use_the_default_runtime_and_the_slow_one_a_two_second_timeout() {
    let table = samples();
    for endpoint in table.iter() {
        let HandlerBinding::RegisteredFunction {
            runtime, timeout, ..
        } = endpoint.handler()
        else {
            panic!("{} is bound to a runtime", endpoint.path());
        };
        assert_eq!(runtime, "default", "{}", endpoint.path());
        let expected = if endpoint.path() == "/rooms/occupancy-outlook" {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(30)
        };
        assert_eq!(*timeout, expected, "{}", endpoint.path());
    }
}

#[test]
fn every_literal_sample_segment_is_not_a_verb() {
    let catalog = Catalog::embedded();
    for endpoint in samples().iter() {
        for segment in endpoint.path().split('/').filter(|s| !s.starts_with('{')) {
            let token: String = segment
                .chars()
                .filter(|c| *c != '-' && *c != '_')
                .collect::<String>()
                .to_ascii_uppercase();
            assert!(!catalog.is_approved(&token), "{segment} is a verb");
            assert!(!catalog.is_legacy(&token), "{segment} is a legacy verb");
        }
    }
}

#[test]
fn the_manifest_entry_carries_the_whole_public_contract() {
    let table = samples();
    let Route::Found { endpoint, .. } = table.route("BOOK", "/rooms/12") else {
        panic!("BOOK must route");
    };
    let entry = endpoint.manifest_entry();
    assert_eq!(entry["method"], "BOOK");
    assert_eq!(entry["path"], "/rooms/{room_id}");
    assert_eq!(entry["namespace"], "booking");
    assert_eq!(entry["semantic"]["impact"], "irreversible");
    assert_eq!(entry["semantic"]["confidence"], 0.9);
    assert_eq!(
        entry["errors"],
        json!(["room_unavailable", "invalid_dates"])
    );
    assert_eq!(entry["required_scopes"], json!(["bookings:write"]));
    assert_eq!(
        entry["handler"],
        json!({"type": "registered_function", "function": "booking.book_room"})
    );
    assert_eq!(entry["input_schema"], *endpoint.input_schema());
    assert_eq!(entry["output_schema"], *endpoint.output_schema());
    assert!(entry.get("runtime").is_none() && entry["handler"].get("timeout").is_none());
    assert_eq!(
        endpoint.summary(),
        json!({"method": "BOOK", "path": "/rooms/{room_id}",
               "description": "Books the room for the named guest and dates."})
    );
}

#[test]
fn the_generated_schemas_are_closed_for_input_and_open_for_output() {
    let table = samples();
    let Route::Found { endpoint, .. } = table.route("QUERY", "/rooms/availability") else {
        panic!("QUERY must route");
    };
    let input = endpoint.input_schema();
    assert_eq!(
        input["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(input["additionalProperties"], false);
    assert_eq!(input["required"], json!(["check_in", "check_out"]));
    assert_eq!(input["properties"]["check_in"]["format"], "date");
    assert_eq!(
        input["properties"]["guests"],
        json!({"type": "integer", "minimum": 1, "maximum": 8,
               "description": "How many people will stay; rooms too small are left out."})
    );
    let output = endpoint.output_schema();
    assert_eq!(output["required"], json!(["rooms"]));
    assert!(output.get("additionalProperties").is_none());
}

#[test]
fn a_caller_missing_a_required_scope_is_refused_with_262_naming_it() {
    let table = samples();
    let Route::Found { endpoint, .. } = table.route("BOOK", "/rooms/12") else {
        panic!("BOOK must route");
    };
    let error = endpoint
        .required_scope_error(&["bookings:read".to_owned()])
        .expect("bookings:write is missing");
    assert_eq!(error.status, Status::AUTHORIZATION_REQUIRED);
    assert_eq!(error.code, "scope-required");
    assert_eq!(error.details["required"], json!(["bookings:write"]));
    assert_eq!(error.details["missing"], json!(["bookings:write"]));
    assert!(endpoint
        .required_scope_error(&["bookings:read".into(), "bookings:write".into()])
        .is_none());
}

#[test]
fn an_endpoint_without_scopes_needs_none() {
    let endpoint = endpoint(&endpoint_toml("FETCH", "/things", "", ""));
    assert!(endpoint.required_scope_error(&[]).is_none());
    assert!(EndpointTable::empty().is_empty());
}

#[test]
fn methods_are_upper_cased_and_an_empty_directory_is_an_empty_table() {
    let endpoint = endpoint(&endpoint_toml("fetch", "/things", "", ""));
    assert_eq!(endpoint.method(), "FETCH");
    let dir = tempfile::tempdir().expect("temp dir");
    let table = EndpointTable::load_dir(dir.path(), &Catalog::embedded()).expect("loads");
    assert!(table.is_empty());
}

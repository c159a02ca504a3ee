//! Building the input: body, query and path merged, wire strings coerced to declared types,
//! and failures answered with a pointer to the field.

use agtp_core::{AgtpError, Status};
use serde_json::{json, Value};

use super::super::tests::{endpoint, endpoint_toml};
use super::super::*;

const PARAMS: &str = r#"
[[endpoint.input.required]]
name = "room_id"
type = "integer"
description = "The room."

[[endpoint.input.required]]
name = "guest_id"
type = "string"
description = "The guest."

[[endpoint.input.optional]]
name = "guests"
type = "integer"
description = "Head count."

[[endpoint.input.optional]]
name = "rate"
type = "number"
description = "Nightly rate."

[[endpoint.input.optional]]
name = "breakfast"
type = "boolean"
description = "Breakfast included."

[[endpoint.input.optional]]
name = "tags"
type = "array"
description = "Free-form tags."

[[endpoint.output]]
name = "booking_id"
type = "string"
description = "The booking."
"#;

fn book() -> Endpoint {
    endpoint(&endpoint_toml("BOOK", "/rooms/{room_id}", "", PARAMS))
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `build_input` with room 7 in the path and guest `g` in the body plus `extra`.
fn input(query: &[(&str, &str)], extra: Value) -> Result<Value, AgtpError> {
    let mut body = json!({"guest_id": "g"});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let body = serde_json::to_vec(&body).unwrap_or_default();
    book().build_input(&pairs(&[("room_id", "7")]), &pairs(query), &body)
}

fn assert_refused(result: Result<Value, AgtpError>, pointer: &str) -> AgtpError {
    let error = result.expect_err("must be refused");
    assert_eq!(error.status, Status::UNPROCESSABLE, "{error:?}");
    assert_eq!(error.code, "input-validation-failed");
    assert_eq!(error.details["pointer"], pointer, "{error:?}");
    assert_eq!(error.details["errors"][0]["pointer"], pointer);
    error
}

#[test]
fn wire_strings_are_coerced_to_the_declared_scalar_type_when_unambiguous() {
    let endpoint = book();
    // (parameter, wire text, the value it becomes)
    let table: &[(&str, &str, Value)] = &[
        ("guests", "42", json!(42)),
        ("guests", "-3", json!(-3)),
        ("guests", "0", json!(0)),
        ("guests", "042", json!("042")),
        ("guests", "-0", json!("-0")),
        ("guests", "+4", json!("+4")),
        ("guests", "4.0", json!("4.0")),
        ("guests", "abc", json!("abc")),
        (
            "guests",
            "18446744073709551615",
            json!(18_446_744_073_709_551_615_u64),
        ),
        (
            "guests",
            "18446744073709551616",
            json!("18446744073709551616"),
        ),
        ("rate", "4.5", json!(4.5)),
        ("rate", "5", json!(5)),
        ("rate", "-1e3", json!(-1000.0)),
        ("rate", ".5", json!(".5")),
        ("rate", "1e400", json!("1e400")),
        ("rate", "NaN", json!("NaN")),
        ("breakfast", "true", json!(true)),
        ("breakfast", "false", json!(false)),
        ("breakfast", "True", json!("True")),
        ("breakfast", "1", json!("1")),
        ("guest_id", "42", json!("42")),
        ("tags", "a,b", json!("a,b")),
        ("undeclared", "42", json!("42")),
    ];
    for (name, raw, expected) in table {
        assert_eq!(&endpoint.coerce(name, raw), expected, "{name} = {raw:?}");
    }
}

#[test]
fn query_and_path_values_reach_the_input_typed() {
    let built = input(
        &[("guests", "2"), ("rate", "99.5"), ("breakfast", "true")],
        json!({}),
    );
    assert_eq!(
        built.expect("valid"),
        json!({"room_id": 7, "guest_id": "g", "guests": 2, "rate": 99.5, "breakfast": true})
    );
}

#[test]
fn a_value_that_does_not_coerce_fails_validation_at_its_pointer() {
    let error = assert_refused(input(&[("guests", "abc")], json!({})), "/guests");
    assert!(error.message.contains("/guests"), "{}", error.message);
    assert_refused(input(&[("guests", "042")], json!({})), "/guests");
}

#[test]
fn the_body_wins_over_the_query_and_the_last_repeated_query_key_wins() {
    let built = input(&[("guests", "1"), ("guests", "3")], json!({})).expect("valid");
    assert_eq!(built["guests"], 3);
    let built = input(&[("guests", "1"), ("guest_id", "q")], json!({"guests": 5})).expect("valid");
    assert_eq!(built["guests"], 5);
    assert_eq!(built["guest_id"], "g");
}

#[test]
fn a_body_value_contradicting_the_path_is_refused_naming_the_field() {
    let error = assert_refused(input(&[], json!({"room_id": 8})), "/room_id");
    assert!(error.message.contains("room_id"), "{}", error.message);
    // Agreeing with the path, as a number or as the path's text, is fine.
    assert_eq!(
        input(&[], json!({"room_id": 7})).expect("agrees")["room_id"],
        7
    );
    assert_eq!(
        input(&[], json!({"room_id": "7"})).expect("agrees")["room_id"],
        7
    );
    // The path silently wins over the query.
    assert_eq!(
        input(&[("room_id", "9")], json!({})).expect("valid")["room_id"],
        7
    );
}

#[test]
fn a_missing_required_field_is_pointed_at_by_name() {
    let endpoint = book();
    let result = endpoint.build_input(&pairs(&[("room_id", "7")]), &[], b"");
    let error = assert_refused(result, "/guest_id");
    assert!(error.message.contains("guest_id"), "{}", error.message);
}

#[test]
fn an_unknown_field_from_body_or_query_is_pointed_at() {
    assert_refused(input(&[], json!({"guest_idd": "x"})), "/guest_idd");
    assert_refused(input(&[("colour", "red")], json!({})), "/colour");
}

#[test]
fn no_more_than_ten_failures_are_listed() {
    let extra: serde_json::Map<String, Value> =
        (0..25).map(|i| (format!("x{i}"), json!(i))).collect();
    let error = input(&[], Value::Object(extra)).expect_err("refused");
    assert_eq!(error.details["errors"].as_array().map(Vec::len), Some(10));
}

#[test]
fn an_empty_body_is_an_empty_object_and_a_non_object_body_is_a_bad_request() {
    let endpoint = book();
    let path = pairs(&[("room_id", "7")]);
    let query = pairs(&[("guest_id", "g")]);
    assert_eq!(
        endpoint.build_input(&path, &query, b"").expect("valid"),
        json!({"room_id": 7, "guest_id": "g"})
    );
    assert!(endpoint.build_input(&path, &query, b" \r\n").is_ok());
    for (body, kind) in [
        (&b"[1]"[..], "an array"),
        (b"\"text\"", "a string"),
        (b"null", "null"),
        (b"3", "a number"),
    ] {
        let error = endpoint
            .build_input(&path, &query, body)
            .expect_err("refused");
        assert_eq!(
            (error.status, &*error.code),
            (Status::BAD_REQUEST, "invalid-body")
        );
        assert!(
            error
                .message
                .ends_with(&format!("must be a JSON object, not {kind}")),
            "{}",
            error.message
        );
    }
}

#[test]
fn invalid_json_is_a_bad_request_with_its_line_and_column() {
    let error = book()
        .build_input(&[], &[], b"{\n  \"guest_id\": }")
        .expect_err("invalid");
    assert_eq!(error.status, Status::BAD_REQUEST);
    assert_eq!(error.code, "invalid-json");
    assert_eq!(error.details["line"], 2);
    assert!(error.details["column"]
        .as_u64()
        .is_some_and(|column| column > 1));
    assert!(error.message.contains("line 2"), "{}", error.message);
}

#[test]
fn output_is_checked_against_the_declared_fields() {
    let endpoint = book();
    assert!(endpoint
        .validate_output(&json!({"booking_id": "b-1"}))
        .is_ok());
    assert!(endpoint
        .validate_output(&json!({"booking_id": "b-1", "extra": 1}))
        .is_ok());
    for (output, pointer) in [
        (json!({}), "/booking_id"),
        (json!({"booking_id": 5}), "/booking_id"),
        (json!([]), ""),
    ] {
        let error = endpoint.validate_output(&output).expect_err("refused");
        assert_eq!(error.status, Status::SERVER_ERROR);
        assert_eq!(error.code, "output-validation-failed");
        assert_eq!(error.details["pointer"], pointer, "{output}");
    }
}

#[test]
fn enums_and_inline_schemas_constrain_the_input() {
    let params = r#"
[[endpoint.input.required]]
name = "room_type"
type = "string"
description = "Room category."
enum = ["single", "double"]

[[endpoint.input.optional]]
name = "nights"
type = "integer"
description = "Stay length."
schema = { minimum = 1 }
"#;
    let endpoint = endpoint(&endpoint_toml("QUERY", "/rates", "", params));
    let query = |items: &[(&str, &str)]| endpoint.build_input(&[], &pairs(items), b"");
    assert!(query(&[("room_type", "double"), ("nights", "2")]).is_ok());
    assert_refused(query(&[("room_type", "suite")]), "/room_type");
    assert_refused(
        query(&[("room_type", "single"), ("nights", "0")]),
        "/nights",
    );
}

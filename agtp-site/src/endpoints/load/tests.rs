//! Every kind of broken endpoint file stops the load with an error that names the file and
//! the reason; the directory scan takes only `*.toml` files.

use std::fs;

use super::super::tests::endpoint_toml;
use super::super::*;

/// Loads a directory holding `good.toml` (valid) and `broken.toml` (`broken`); returns the
/// error's text, which must name `broken.toml`.
fn load_error(broken: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = endpoint_toml("FETCH", "/things", "", "");
    fs::write(dir.path().join("good.toml"), good).expect("write good.toml");
    fs::write(dir.path().join("broken.toml"), broken).expect("write broken.toml");
    let error = match EndpointTable::load_dir(dir.path(), &Catalog::embedded()) {
        Ok(_) => panic!("broken file loaded:\n{broken}"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("broken.toml"), "{error}");
    assert!(!error.ends_with('.') && !error.contains('\n'), "{error}");
    error
}

const PARAM: &str = r#"
[[endpoint.input.required]]
name = "thing_id"
type = "string"
description = "The thing.""#;

#[test]
fn each_kind_of_broken_file_is_refused_with_its_reason() {
    let valid = endpoint_toml("FETCH", "/things", "", "");
    // (file text, a fragment the error must contain)
    let table: Vec<(String, &str)> = vec![
        ("[endpoint\nmethod = 1".into(), "line 1, column"),
        (
            valid.replace("capability = \"retrieval\"\n", ""),
            "missing field `capability`",
        ),
        (
            valid.replace("\"informational\"", "\"catastrophic\""),
            "unknown variant `catastrophic`",
        ),
        (
            valid.replace("description =", "descripton ="),
            "unknown field `descripton`",
        ),
        (
            valid.replace("\"agent\"", "\"robot\""),
            "unknown variant `robot`",
        ),
        (
            valid.replace("confidence = 0.9", "confidence = 1.5"),
            "between 0 and 1",
        ),
        (
            valid.replace("intent = \"Test something.\"", "intent = \" \""),
            "`semantic.intent` must not be empty",
        ),
        (
            endpoint_toml("FROBNICATE", "/things", "", ""),
            "not a verb of the AGTP catalog",
        ),
        (
            endpoint_toml("get", "/things", "", ""),
            "legacy HTTP verb; declare the endpoint with `FETCH`",
        ),
        (
            endpoint_toml("FETCH", "/things/fetch", "", ""),
            "is the verb `FETCH`",
        ),
        (
            endpoint_toml("FETCH", "/things/", "", ""),
            "must not end with `/`",
        ),
        (
            endpoint_toml("FETCH", "/things/{thing_id}", "", ""),
            "path parameter `thing_id` must be declared",
        ),
        (
            endpoint_toml("FETCH", "/things/a{thing_id}", "", PARAM),
            "mixes literal text",
        ),
        (
            endpoint_toml("FETCH", "/things/{Thing}", "", PARAM),
            "must name a parameter",
        ),
        (
            endpoint_toml("FETCH", "/things/{thing_id}/{thing_id}", "", PARAM),
            "repeats a parameter",
        ),
        (
            endpoint_toml(
                "FETCH",
                "/things",
                "",
                &PARAM.replace("thing_id", "ThingId"),
            ),
            "lowercase snake_case",
        ),
        (
            endpoint_toml(
                "FETCH",
                "/things",
                "",
                &PARAM.replace("\"string\"", "\"text\""),
            ),
            "unknown variant `text`",
        ),
        (
            endpoint_toml(
                "FETCH",
                "/things",
                "",
                &PARAM.replace("\"The thing.\"", "\"\""),
            ),
            "`description` must not be empty",
        ),
        (
            endpoint_toml("FETCH", "/things", "", &format!("{PARAM}\n{PARAM}")),
            "`thing_id`: is declared twice",
        ),
        (
            endpoint_toml("FETCH", "/things", "", &format!("{PARAM}\nenum = [1, 2]")),
            "`enum` value `1` is not of type `string`",
        ),
        (
            endpoint_toml(
                "FETCH",
                "/things",
                "",
                &format!("{PARAM}\nschema = {{ minLength = \"x\" }}"),
            ),
            "invalid `schema`",
        ),
        (
            endpoint_toml(
                "FETCH",
                "/things",
                "",
                &format!("{PARAM}\nschema = {{ type = \"array\" }}"),
            ),
            "`schema` declares type",
        ),
        (
            endpoint_toml("FETCH", "/things", "errors = [\"a\", \"a\"]", ""),
            "errors entry `a`: is listed twice",
        ),
        (
            endpoint_toml("FETCH", "/things", "errors = 3", ""),
            "an array of error names",
        ),
        (
            endpoint_toml("FETCH", "/things", "required_scopes = [\"a b\"]", ""),
            "required_scopes entry `a b`",
        ),
        (
            valid
                .replace(
                    "type = \"registered_function\"",
                    "type = \"composition\"\nrecipe = \"r\"",
                )
                .replace("function = \"tests.handler\"", ""),
            "handler type `composition` is not supported by agtpd",
        ),
        (
            valid.replace(
                "type = \"registered_function\"",
                "type = \"external_service\"\nurl = \"https://x\"",
            ),
            "handler type `external_service` is not supported by agtpd",
        ),
        (
            valid.replace("type = \"registered_function\"", "type = \"lambda\""),
            "unknown variant `lambda`",
        ),
        (
            valid.replace("function = \"tests.handler\"", ""),
            "missing field `function`",
        ),
        (
            valid.replace(
                "function = \"tests.handler\"",
                "function = \"f\"\nreference = \"x\"",
            ),
            "unknown field `reference`",
        ),
        (
            valid.replace(
                "function = \"tests.handler\"",
                "function = \"f\"\ntimeout = \"0s\"",
            ),
            "more than 0",
        ),
        (
            valid.replace(
                "function = \"tests.handler\"",
                "function = \"f\"\ntimeout = \"soon\"",
            ),
            "line 16, column 1: invalid value: string \"soon\", expected a duration",
        ),
        (
            valid.replace(
                "function = \"tests.handler\"",
                "function = \"f\"\nruntime = \"my pool\"",
            ),
            "`handler.runtime` `my pool`",
        ),
        (format!("{valid}\n[other]\nx = 1"), "unknown field `other`"),
    ];
    for (text, expected) in table {
        let error = load_error(&text);
        assert!(
            error.contains(expected),
            "expected `{expected}` in: {error}"
        );
    }
}

#[test]
fn two_files_declaring_the_same_method_and_path_shape_are_both_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let declare = |name: &str| {
        endpoint_toml(
            "FETCH",
            &format!("/things/{{{name}}}"),
            "",
            &PARAM.replace("thing_id", name),
        )
    };
    fs::write(dir.path().join("a.toml"), declare("thing_id")).expect("write");
    fs::write(dir.path().join("b.toml"), declare("id")).expect("write");
    let error = EndpointTable::load_dir(dir.path(), &Catalog::embedded())
        .expect_err("duplicate")
        .to_string();
    assert!(
        error.contains("`FETCH /things/{thing_id}` is declared twice"),
        "{error}"
    );
    assert!(
        error.contains("a.toml") && error.contains("b.toml"),
        "{error}"
    );
}

#[test]
fn the_same_path_under_different_methods_is_not_a_duplicate() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("a.toml"),
        endpoint_toml("FETCH", "/things", "", ""),
    )
    .expect("write");
    fs::write(
        dir.path().join("b.toml"),
        endpoint_toml("QUERY", "/things", "", ""),
    )
    .expect("write");
    let table = EndpointTable::load_dir(dir.path(), &Catalog::embedded()).expect("loads");
    assert_eq!(table.len(), 2);
}

#[test]
fn a_file_over_one_mebibyte_is_refused_unparsed() {
    let mut text = endpoint_toml("FETCH", "/things", "", "");
    text.push_str(&"#".repeat(usize::try_from(MAX_ENDPOINT_FILE_BYTES).unwrap_or(usize::MAX)));
    let error = load_error(&text);
    assert!(
        error.contains("larger than the limit of 1048576 bytes"),
        "{error}"
    );
}

#[test]
fn only_toml_files_directly_in_the_directory_are_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("a.toml"),
        endpoint_toml("FETCH", "/things", "", ""),
    )
    .expect("write");
    fs::write(dir.path().join("notes.txt"), "not toml").expect("write");
    fs::write(dir.path().join(".draft.toml"), "not [toml").expect("write");
    fs::create_dir(dir.path().join("nested.toml")).expect("mkdir");
    fs::write(dir.path().join("nested.toml/b.toml"), "not [toml").expect("write");
    let table = EndpointTable::load_dir(dir.path(), &Catalog::embedded()).expect("loads");
    assert_eq!(table.len(), 1);
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("absent");
    let error = EndpointTable::load_dir(&missing, &Catalog::embedded()).expect_err("missing");
    assert!(error.to_string().contains("absent"), "{error}");
    assert_eq!(error.file(), missing);
}

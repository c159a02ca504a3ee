//! Unit tests of loading a catalog: the checks an operator file goes through and the
//! errors that name the file and the problem.

use std::io::Write;

use super::super::{Catalog, CatalogError, CatalogProblem};

pub(in crate::catalog) const SMALL: &str = r#"
version = "0.1.0"
categories = ["retrieval", "mechanics"]
embedded = ["QUERY"]
[legacy]
GET = "FETCH"
[verbs]
FETCH = ["retrieval"]
QUERY = ["mechanics", "retrieval"]
"#;

fn problem(text: &str) -> CatalogProblem {
    match Catalog::from_toml_str(text, "test.toml") {
        Err(CatalogError::Invalid { origin, problem }) => {
            assert_eq!(origin, "test.toml");
            problem
        }
        other => panic!("expected an invalid catalog, got {other:?}"),
    }
}

#[test]
fn a_small_operator_file_loads_and_orders_categories_canonically() {
    let catalog = Catalog::from_toml_str(SMALL, "test.toml").expect("valid");
    assert_eq!(catalog.version(), "0.1.0");
    assert_eq!(
        catalog.categories("QUERY"),
        Some(&["retrieval".to_owned(), "mechanics".to_owned()][..])
    );
    assert!(catalog.is_embedded("QUERY"));
}

#[test]
fn operator_files_breaking_a_rule_are_refused_with_the_problem() {
    use CatalogProblem as P;
    let s = |x: &str| x.to_owned();
    let edit = |from: &str, to: &str| SMALL.replace(from, to);
    let (fetch, query) = (r#"FETCH = ["retrieval"]"#, r#"["QUERY"]"#);
    let table: Vec<(String, CatalogProblem)> = vec![
        (edit("0.1.0", " "), P::EmptyVersion),
        (
            edit(r#""mechanics"]"#, r#""Mech"]"#),
            P::BadCategory(s("Mech")),
        ),
        (
            edit(r#", "mechanics"]"#, r#", "retrieval"]"#),
            P::DuplicateCategory(s("retrieval")),
        ),
        (
            edit(fetch, r#"fetch = ["retrieval"]"#),
            P::BadVerb {
                table: "verbs",
                verb: s("fetch"),
            },
        ),
        (edit(fetch, "FETCH = []"), P::NoCategories(s("FETCH"))),
        (
            edit(fetch, r#"FETCH = ["magic"]"#),
            P::UnknownCategory {
                verb: s("FETCH"),
                category: s("magic"),
            },
        ),
        (
            edit(fetch, r#"FETCH = ["retrieval", "retrieval"]"#),
            P::DuplicateVerbCategory {
                verb: s("FETCH"),
                category: s("retrieval"),
            },
        ),
        (
            edit(query, r#"["QUERY", "QUERY"]"#),
            P::DuplicateEmbedded(s("QUERY")),
        ),
        (
            edit(query, r#"["PLAN"]"#),
            P::EmbeddedNotApproved(s("PLAN")),
        ),
        (
            edit("GET = \"FETCH\"", "GET = \"OBTAIN\""),
            P::ReplacementNotApproved {
                legacy: s("GET"),
                replacement: s("OBTAIN"),
            },
        ),
        (
            edit("GET = \"FETCH\"", "FETCH = \"QUERY\""),
            P::LegacyApproved(s("FETCH")),
        ),
        (
            edit("GET = \"FETCH\"", "get = \"FETCH\""),
            P::BadVerb {
                table: "legacy",
                verb: s("get"),
            },
        ),
        (
            SMALL
                .split("FETCH = [")
                .next()
                .unwrap_or_default()
                .replace("GET = \"FETCH\"", "")
                .replace(query, "[]"),
            P::NoVerbs,
        ),
    ];
    for (text, expected) in table {
        assert_eq!(problem(&text), expected, "{text}");
    }
}

#[test]
fn syntax_errors_and_unknown_keys_name_the_line() {
    let duplicate = problem(&SMALL.replace("QUERY = [", "FETCH = [\"retrieval\"]\nQUERY = ["));
    assert!(
        matches!(&duplicate, CatalogProblem::Syntax { line: Some(9), message } if message.contains("duplicate key")),
        "{duplicate:?}"
    );
    let unknown = problem(&format!("colour = \"blue\"\n{SMALL}"));
    assert!(
        matches!(&unknown, CatalogProblem::Syntax { line: Some(1), message } if message.contains("unknown field `colour`")),
        "{unknown:?}"
    );
    let missing = problem(&SMALL.replace("version = \"0.1.0\"", ""));
    assert!(
        matches!(&missing, CatalogProblem::Syntax { message, .. } if message.contains("missing field `version`")),
        "{missing:?}"
    );
}

#[test]
fn error_messages_name_the_file_and_the_problem() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(SMALL.replace("[\"QUERY\"]", "[\"PLAN\"]").as_bytes())
        .expect("write");
    let error = Catalog::from_file(file.path()).expect_err("PLAN is not approved");
    assert_eq!(
        error.to_string(),
        format!(
            "verb catalog `{}`: embedded verb `PLAN` is not an approved verb",
            file.path().display()
        )
    );

    let missing = Catalog::from_file("/nonexistent/verbs.toml").expect_err("no such file");
    let message = missing.to_string();
    assert!(
        message.starts_with("verb catalog `/nonexistent/verbs.toml`: cannot read it: "),
        "{message}"
    );
}

#[test]
fn an_operator_file_that_is_valid_loads_from_disk() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(SMALL.as_bytes()).expect("write");
    let catalog = Catalog::from_file(file.path()).expect("valid");
    assert_eq!(catalog.verbs().collect::<Vec<_>>(), ["FETCH", "QUERY"]);
}

#[test]
fn an_operator_file_over_one_mebibyte_is_refused_before_parsing() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let padding = "#".repeat(1024 * 1024 + 1);
    file.write_all(padding.as_bytes()).expect("write");
    let error = Catalog::from_file(file.path()).expect_err("too large");
    assert!(matches!(
        error,
        CatalogError::Invalid {
            problem: CatalogProblem::TooLarge,
            ..
        }
    ));
}

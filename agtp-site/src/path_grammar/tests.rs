use super::*;
use serde_json::json;

/// `None` when the path passes, else the broken rule and the offending segment.
type Verdict = Option<(&'static str, Option<&'static str>)>;

#[test]
fn paths_without_verbs_pass_and_verb_segments_are_refused() {
    let catalog = Catalog::embedded();
    // (path, None for a pass or the refused rule and segment)
    let table: &[(&str, Verdict)] = &[
        ("/", None),
        ("/orders", None),
        ("/rooms/42", None),
        ("/orders/{query}", None),
        ("/orders/{order_id}/line-items", None),
        ("/Mixed_Case-Path", None),
        ("/users/{id}/get-history", None),
        ("/_agtp/.well-known/..", None),
        ("/fetch2", None),
        ("/%7Bfetch%7D", None),
        ("/fetch", Some(("verb-in-segment", Some("fetch")))),
        ("/F-E-T-C-H", Some(("verb-in-segment", Some("F-E-T-C-H")))),
        ("/orders/query", Some(("verb-in-segment", Some("query")))),
        ("/orders/get", Some(("verb-in-segment", Some("get")))),
        ("/get/orders", Some(("verb-in-segment", Some("get")))),
        ("/orders/cancel", Some(("verb-in-segment", Some("cancel")))),
        (
            "/re_con-cile",
            Some(("verb-in-segment", Some("re_con-cile"))),
        ),
        ("/%46ETCH", Some(("verb-in-segment", Some("%46ETCH")))),
        ("/a/", Some(("trailing-slash", None))),
        ("/orders/", Some(("trailing-slash", None))),
        ("//", Some(("trailing-slash", None))),
        ("relative", Some(("leading-slash", None))),
        ("", Some(("leading-slash", None))),
        ("//a", Some(("empty-segment", None))),
        ("/a//b", Some(("empty-segment", None))),
    ];
    for &(path, expected) in table {
        let got = validate_path(path, &catalog);
        match expected {
            None => assert_eq!(got, Ok(()), "{path} should pass"),
            Some((rule, segment)) => {
                let refused = got.err();
                assert_eq!(refused.as_ref().map(|e| e.rule()), Some(rule), "{path}");
                assert_eq!(
                    refused.as_ref().and_then(|e| e.segment()),
                    segment,
                    "{path}"
                );
            }
        }
    }
}

#[test]
fn segments_longer_than_any_verb_are_not_verbs() {
    let catalog = Catalog::embedded();
    let long = format!("/{}", "a".repeat(MAX_VERB_LEN + 1));
    assert_eq!(validate_path(&long, &catalog), Ok(()));
    assert_eq!(
        validate_path("/fetch-----------------------------------", &catalog).map_err(|e| e.rule()),
        Err("verb-in-segment")
    );
}

#[test]
fn a_verb_segment_answers_460_naming_the_segment_and_the_rule() {
    let catalog = Catalog::embedded();
    let refused = validate_path("/orders/query", &catalog).err();
    let error = AgtpError::from(refused.expect("query is a verb"));
    assert_eq!(error.status, Status::ENDPOINT_VIOLATION);
    assert_eq!(error.code, "endpoint-violation");
    assert_eq!(
        error.message,
        "path segment `query` is the verb `QUERY`: verbs belong in the method, not in the path"
    );
    assert_eq!(error.details.get("segment"), Some(&json!("query")));
    assert_eq!(error.details.get("rule"), Some(&json!("verb-in-segment")));
    assert_eq!(error.details.get("path"), Some(&json!("/orders/query")));
}

#[test]
fn a_structural_fault_answers_460_without_a_segment() {
    let error = AgtpError::from(PathGrammarError::TrailingSlash { path: "/a/".into() });
    assert_eq!(error.message, "path `/a/` must not end with `/`");
    assert_eq!(error.details.get("rule"), Some(&json!("trailing-slash")));
    assert_eq!(error.details.get("segment"), None);
}

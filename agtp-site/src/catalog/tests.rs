//! Unit tests of the verb catalog: the compiled-in data, suggestions and the 459 answer.

use agtp_core::{AgtpError, Status};
use serde_json::json;

use super::load::tests::SMALL;
use super::Catalog;

#[test]
fn the_embedded_catalog_holds_425_verbs_in_nine_categories() {
    let catalog = Catalog::embedded();
    assert_eq!(catalog.verbs().count(), 425);
    assert_eq!(catalog.category_names().count(), 9);
    assert_eq!(catalog.version(), "1.0.0");
    let verbs: Vec<&str> = catalog.verbs().collect();
    assert!(
        verbs.windows(2).all(|pair| pair[0] < pair[1]),
        "sorted and unique"
    );
}

#[test]
fn spot_checks_of_the_embedded_catalog_hold() {
    let catalog = Catalog::embedded();
    assert!(catalog.is_approved("RECONCILE"));
    assert_eq!(
        catalog.categories("RECONCILE"),
        Some(&["analysis".to_owned(), "domain_spanning".to_owned()][..])
    );
    // The reference's methods.md shows AUDIT in analysis and domain_spanning, but its
    // methods.json (the data) lists analysis only; the catalog follows the data.
    assert_eq!(
        catalog.categories("AUDIT"),
        Some(&["analysis".to_owned()][..])
    );
    assert_eq!(
        catalog.categories("QUERY"),
        Some(&["discovery".to_owned(), "mechanics".to_owned()][..])
    );
    assert!(catalog.is_approved("FETCH"));
    assert!(!catalog.is_approved("GET"));
    assert!(catalog.is_legacy("GET"));
    assert!(!catalog.is_legacy("FETCH"));
    assert!(!catalog.is_approved("FROBNICATE"));
    assert!(!catalog.is_approved("fetch"), "lookups are exact");
    assert_eq!(catalog.categories("GET"), None);
}

#[test]
fn the_embedded_set_is_the_twelve_protocol_primitives() {
    let catalog = Catalog::embedded();
    let embedded: Vec<&str> = catalog.embedded_verbs().collect();
    assert_eq!(
        embedded,
        [
            "QUERY",
            "DISCOVER",
            "DESCRIBE",
            "SUMMARIZE",
            "PLAN",
            "EXECUTE",
            "DELEGATE",
            "ESCALATE",
            "CONFIRM",
            "SUSPEND",
            "PROPOSE",
            "NOTIFY"
        ]
    );
    assert!(embedded.iter().all(|verb| catalog.is_embedded(verb)));
    assert!(!catalog.is_embedded("INSPECT"));
    assert!(catalog.is_approved("INSPECT"));
}

#[test]
fn legacy_http_verbs_map_to_their_agtp_replacements() {
    let catalog = Catalog::embedded();
    assert_eq!(
        catalog.legacy_verbs(),
        [
            ("DELETE", "REMOVE"),
            ("GET", "FETCH"),
            ("PATCH", "MODIFY"),
            ("POST", "CREATE"),
            ("PUT", "REPLACE"),
        ]
    );
    assert_eq!(catalog.legacy_replacement("GET"), Some("FETCH"));
    assert_eq!(catalog.legacy_replacement("FETCH"), None);
}

#[test]
fn suggestions_are_near_verbs_closest_first_and_legacy_replacements_lead() {
    let catalog = Catalog::embedded();
    let table: &[(&str, usize, &[&str])] = &[
        ("FETHC", 3, &["FETCH"]),
        ("PROPOSEX", 3, &["PROPOSE"]),
        ("fethc", 3, &["FETCH"]),
        ("FROBNICATEXYZ", 3, &[]),
        ("QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", 3, &[]),
        ("FETCH", 0, &[]),
    ];
    for &(verb, max, expected) in table {
        assert_eq!(
            catalog.suggest(verb, max),
            expected,
            "suggest({verb}, {max})"
        );
    }
    let get = catalog.suggest("GET", 3);
    assert_eq!(get.first().map(String::as_str), Some("FETCH"));
    assert!(get.len() <= 3);
    let put = catalog.suggest("PUT", 10);
    assert_eq!(put.first().map(String::as_str), Some("REPLACE"));
    assert!(put.iter().filter(|verb| *verb == "REPLACE").count() == 1);
}

#[test]
fn suggestion_ties_are_broken_alphabetically() {
    let text = SMALL.replace("QUERY = [", "FETCX = [\"retrieval\"]\nQUERY = [");
    let catalog = Catalog::from_toml_str(&text, "test.toml").expect("valid");
    assert_eq!(catalog.suggest("FETCY", 5), ["FETCH", "FETCX"]);
}

#[test]
fn an_unknown_verb_answers_459_with_up_to_three_suggestions() {
    let catalog = Catalog::embedded();
    let error = AgtpError::from(catalog.unknown_verb("FETHC"));
    assert_eq!(error.status, Status::METHOD_VIOLATION);
    assert_eq!(error.code, "method-violation");
    assert_eq!(error.message, "`FETHC` is not a verb of the AGTP catalog");
    assert_eq!(error.details.get("method"), Some(&json!("FETHC")));
    assert_eq!(error.details.get("suggestions"), Some(&json!(["FETCH"])));

    let far = AgtpError::from(catalog.unknown_verb("FROBNICATEXYZ"));
    assert_eq!(far.details.get("suggestions"), Some(&json!([])));

    let legacy = catalog.unknown_verb("GET");
    assert!(legacy.legacy);
    assert!(legacy.suggestions.len() <= 3);
    assert_eq!(
        legacy.suggestions.first().map(String::as_str),
        Some("FETCH")
    );
    assert!(legacy.to_string().contains("legacy HTTP verb"));
}

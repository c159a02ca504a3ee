//! Routing: templates bind percent-decoded values, literals beat templates, other methods
//! at a served path answer 405 with the allowed list.

use super::super::tests::{endpoint, endpoint_toml};
use super::super::*;

fn param(name: &str) -> String {
    format!(
        "[[endpoint.input.required]]\nname = \"{name}\"\ntype = \"string\"\ndescription = \"A {name}.\"\n"
    )
}

/// A table of `(method, path)` endpoints; every `{id}`/`{room_id}`/`{line}` is declared.
fn table(routes: &[(&str, &str)]) -> EndpointTable {
    let endpoints = routes
        .iter()
        .map(|(method, path)| {
            let params: String = ["id", "room_id", "line"]
                .iter()
                .filter(|name| path.contains(&format!("{{{name}}}")))
                .map(|name| param(name))
                .collect();
            endpoint(&endpoint_toml(method, path, "", &params))
        })
        .collect();
    EndpointTable::new(endpoints).expect("no duplicates")
}

/// The declared path and bindings `method path` routes to, or `None`.
fn found(
    table: &EndpointTable,
    method: &str,
    path: &str,
) -> Option<(String, Vec<(String, String)>)> {
    match table.route(method, path) {
        Route::Found { endpoint, params } => Some((endpoint.path().to_owned(), params)),
        Route::MethodNotAllowed { .. } | Route::NotFound => None,
    }
}

fn binding(name: &str, value: &str) -> Vec<(String, String)> {
    vec![(name.to_owned(), value.to_owned())]
}

#[test]
fn a_template_matches_any_segment_and_binds_it() {
    let table = table(&[("BOOK", "/rooms/{room_id}")]);
    assert_eq!(
        found(&table, "BOOK", "/rooms/42"),
        Some(("/rooms/{room_id}".into(), binding("room_id", "42")))
    );
    assert_eq!(found(&table, "BOOK", "/rooms"), None);
    assert_eq!(found(&table, "BOOK", "/rooms/42/keys"), None);
    assert_eq!(
        found(&table, "BOOK", "/rooms/"),
        None,
        "an empty segment binds nothing"
    );
}

#[test]
fn bound_values_are_percent_decoded_and_plus_stays_a_plus() {
    let table = table(&[("BOOK", "/rooms/{room_id}")]);
    let bound = |path: &str| found(&table, "BOOK", path).map(|(_, params)| params[0].1.clone());
    assert_eq!(bound("/rooms/sea%20view").as_deref(), Some("sea view"));
    assert_eq!(bound("/rooms/a%2Fb").as_deref(), Some("a/b"));
    assert_eq!(bound("/rooms/caf%C3%A9").as_deref(), Some("café"));
    assert_eq!(bound("/rooms/a+b").as_deref(), Some("a+b"));
    assert_eq!(
        bound("/rooms/100%").as_deref(),
        Some("100%"),
        "malformed escapes stay"
    );
    assert_eq!(
        bound("/rooms/%FF").as_deref(),
        Some("\u{fffd}"),
        "invalid UTF-8 is replaced"
    );
}

#[test]
fn a_literal_segment_beats_a_template_at_the_same_position() {
    // Declared in both orders, to show the order of files does not matter.
    for routes in [
        [("BOOK", "/rooms/{id}"), ("BOOK", "/rooms/special")],
        [("BOOK", "/rooms/special"), ("BOOK", "/rooms/{id}")],
    ] {
        let table = table(&routes);
        assert_eq!(
            found(&table, "BOOK", "/rooms/special"),
            Some(("/rooms/special".into(), vec![]))
        );
        assert_eq!(
            found(&table, "BOOK", "/rooms/other"),
            Some(("/rooms/{id}".into(), binding("id", "other")))
        );
    }
}

#[test]
fn the_leftmost_literal_decides_between_overlapping_templates() {
    let table = table(&[("FETCH", "/{id}/lines"), ("FETCH", "/orders/{line}")]);
    assert_eq!(
        found(&table, "FETCH", "/orders/lines"),
        Some(("/orders/{line}".into(), binding("line", "lines")))
    );
    assert_eq!(
        found(&table, "FETCH", "/carts/lines"),
        Some(("/{id}/lines".into(), binding("id", "carts")))
    );
}

#[test]
fn literal_segments_compare_percent_decoded() {
    let table = table(&[("QUERY", "/rooms/sea-view"), ("QUERY", "/caf%C3%A9")]);
    assert!(found(&table, "QUERY", "/rooms/sea%2Dview").is_some());
    assert!(found(&table, "QUERY", "/caf%c3%a9").is_some());
    assert!(
        found(&table, "QUERY", "/rooms/Sea-View").is_none(),
        "literals are case-sensitive"
    );
}

#[test]
fn the_root_path_routes_to_an_endpoint_declared_at_the_root() {
    let table = table(&[("DISCOVER", "/"), ("QUERY", "/rooms")]);
    assert_eq!(found(&table, "DISCOVER", "/"), Some(("/".into(), vec![])));
    assert!(matches!(table.route("DISCOVER", ""), Route::NotFound));
    assert!(matches!(
        table.route("QUERY", "/"),
        Route::MethodNotAllowed { .. }
    ));
}

#[test]
fn another_method_at_a_served_path_lists_the_allowed_methods_sorted() {
    let table = table(&[
        ("FETCH", "/bookings/{id}"),
        ("CANCEL", "/bookings/{id}"),
        ("BOOK", "/rooms/{room_id}"),
        ("QUERY", "/bookings/latest"),
    ]);
    match table.route("BOOK", "/bookings/b-1") {
        Route::MethodNotAllowed { allowed } => assert_eq!(allowed, ["CANCEL", "FETCH"]),
        other => panic!("expected 405, got {other:?}"),
    }
    match table.route("BOOK", "/bookings/latest") {
        Route::MethodNotAllowed { allowed } => assert_eq!(allowed, ["CANCEL", "FETCH", "QUERY"]),
        other => panic!("expected 405, got {other:?}"),
    }
    assert!(matches!(table.route("BOOK", "/nowhere"), Route::NotFound));
    assert!(matches!(table.route("FETCH", "/bookings"), Route::NotFound));
}

#[test]
fn a_method_with_its_own_template_is_found_even_where_another_has_a_literal() {
    let table = table(&[("BOOK", "/rooms/{room_id}"), ("FETCH", "/rooms/special")]);
    assert_eq!(
        found(&table, "BOOK", "/rooms/special"),
        Some(("/rooms/{room_id}".into(), binding("room_id", "special")))
    );
}

#[test]
fn hundreds_of_endpoints_route_to_the_right_one() {
    let paths: Vec<String> = (0..300).map(|i| format!("/area{i}/{{id}}")).collect();
    let routes: Vec<(&str, &str)> = paths.iter().map(|path| ("FETCH", path.as_str())).collect();
    let table = table(&routes);
    assert_eq!(table.len(), 300);
    assert_eq!(
        found(&table, "FETCH", "/area299/x"),
        Some(("/area299/{id}".into(), binding("id", "x")))
    );
}

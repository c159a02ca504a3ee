use std::sync::Arc;

use super::*;
use crate::error::HandlerError;

fn routes(paths: &[(&str, &str)]) -> Routes {
    let mut routes = Routes::default();
    for (method, path) in paths {
        let handler: BoxedHandler =
            Arc::new(|_, _| Box::pin(async { Err(HandlerError::exception("unused")) }));
        routes.insert(method, path, handler);
    }
    routes
}

fn found(routes: &Routes, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
    routes
        .find(method, path)
        .map(|m| (m.path.to_owned(), m.params))
}

#[test]
fn a_param_segment_binds_the_requested_value() {
    let r = routes(&[("BOOK", "/rooms/{room_id}")]);
    let (path, params) = found(&r, "BOOK", "/rooms/42").unwrap();
    assert_eq!(path, "/rooms/{room_id}");
    assert_eq!(params, vec![("room_id".to_owned(), "42".to_owned())]);
}

#[test]
fn a_literal_segment_wins_over_a_param_whatever_the_insertion_order() {
    let r = routes(&[("FETCH", "/rooms/{id}"), ("FETCH", "/rooms/special")]);
    assert_eq!(
        found(&r, "FETCH", "/rooms/special").unwrap().0,
        "/rooms/special"
    );
    assert_eq!(found(&r, "FETCH", "/rooms/7").unwrap().0, "/rooms/{id}");
}

#[test]
fn method_depth_and_empty_segments_must_all_fit() {
    let r = routes(&[("BOOK", "/rooms/{room_id}"), ("FETCH", "/")]);
    assert!(found(&r, "FETCH", "/rooms/42").is_none());
    assert!(found(&r, "BOOK", "/rooms").is_none());
    assert!(found(&r, "BOOK", "/rooms/42/x").is_none());
    assert!(found(&r, "BOOK", "/rooms/").is_none());
    assert_eq!(found(&r, "FETCH", "/").unwrap().0, "/");
}

#[test]
fn segments_are_percent_decoded_and_the_query_is_ignored() {
    let r = routes(&[("FETCH", "/files/{name}"), ("FETCH", "/a b")]);
    let (_, params) = found(&r, "FETCH", "/files/x%2Fy?v=1").unwrap();
    assert_eq!(params[0].1, "x/y");
    assert!(found(&r, "FETCH", "/a%20b").is_some());
    assert_eq!(percent_decode("%zz%"), "%zz%");
    assert_eq!(percent_decode("%ff"), "%ff");
    assert_eq!(percent_decode("%+f"), "%+f");
}

use serde_json::json;
use tokio::time::Instant;

use super::Context;

fn with_headers(headers: serde_json::Value) -> Context {
    let envelope = serde_json::from_value(json!({
        "method": "QUERY", "path": "/x", "headers": headers,
    }))
    .unwrap();
    Context::new(
        "g-1".into(),
        envelope,
        None,
        Instant::now(),
        "/x".into(),
        Vec::new(),
        None,
    )
}

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_traceparent_and_its_tracestate_are_the_callers() {
    let cx = with_headers(json!({"traceparent": format!(" {VALID} "), "tracestate": "a=1"}));
    assert_eq!(cx.traceparent(), Some(VALID));
    assert_eq!(cx.tracestate(), Some("a=1"));
    // A later version may carry more fields.
    let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-next";
    assert_eq!(
        with_headers(json!({ "traceparent": later })).traceparent(),
        Some(later)
    );
}

#[test]
fn an_invalid_traceparent_is_ignored_with_its_tracestate() {
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
    ] {
        let cx = with_headers(json!({"traceparent": bad, "tracestate": "a=1"}));
        assert_eq!(cx.traceparent(), None, "{bad:?}");
        assert_eq!(cx.tracestate(), None, "{bad:?}");
    }
}

#[test]
fn a_child_keeps_the_trace_and_flags_with_a_new_span_or_starts_a_sampled_trace() {
    let cx = with_headers(json!({ "traceparent": VALID.replace("-01", "-00") }));
    let child = cx.child_traceparent();
    let fields: Vec<&str> = child.split('-').collect();
    assert_eq!(fields[..2], ["00", "4bf92f3577b34da6a3ce929d0e0e4736"]);
    assert_eq!(fields[3], "00");
    assert_ne!(fields[2], "00f067aa0ba902b7");
    assert_eq!(fields[2].len(), 16);

    let fresh = with_headers(json!({})).child_traceparent();
    let child = with_headers(json!({ "traceparent": fresh }));
    assert_eq!(child.traceparent(), Some(fresh.as_str()));
    assert!(fresh.ends_with("-01"));
}

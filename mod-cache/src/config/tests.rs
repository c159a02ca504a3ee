use super::*;
use serde_json::json;

#[test]
fn an_empty_table_gives_every_default() {
    let c = CacheConfig::from_value(&json!({})).unwrap();
    assert_eq!(c, CacheConfig::default());
    assert_eq!(c.max_entries, 1000);
    assert_eq!(c.ttl, Duration::from_secs(300));
}

#[test]
fn unknown_keys_are_refused_at_both_levels() {
    let e = CacheConfig::from_value(&json!({"max_entry": 3})).unwrap_err();
    assert!(e.contains("unknown field `max_entry`"), "{e}");
    let e =
        CacheConfig::from_value(&json!({"endpoints": {"QUERY /a": {"tll": "1s"}}})).unwrap_err();
    assert!(e.contains("unknown field `tll`"), "{e}");
}

#[test]
fn durations_read_as_operators_write_them_and_endpoint_keys_normalise() {
    let c = CacheConfig::from_value(&json!({
        "ttl": "250ms", "lock_timeout": "0s",
        "endpoints": {"query /rooms/{room_id}": {"ttl": "1m", "agent_scoped": true}}
    }))
    .unwrap();
    assert_eq!(c.ttl, Duration::from_millis(250));
    assert_eq!(c.lock_timeout, Duration::ZERO);
    let table = c.endpoint_table();
    let room = &table["QUERY /rooms/{room_id}"];
    assert_eq!(room.ttl, Some(Duration::from_secs(60)));
    assert!(room.agent_scoped);
}

#[test]
fn zero_sizes_zero_ttls_and_malformed_endpoint_keys_are_refused() {
    for (table, needle) in [
        (json!({"max_bytes": 0}), "`max_bytes`"),
        (json!({"max_body": 0}), "`max_body`"),
        (json!({"ttl": "0s"}), "`ttl`"),
        (json!({"endpoints": {"QUERY /a": {"ttl": "0s"}}}), "ttl"),
        (json!({"endpoints": {"/a": {}}}), "METHOD /path"),
        (json!({"endpoints": {"QUERY a": {}}}), "not a path"),
        (json!({"endpoints": {"QU ERY /a": {}}}), "not a path"),
        (json!({"endpoints": {"QUÉRY /a": {}}}), "not a method"),
    ] {
        let e = CacheConfig::from_value(&table).unwrap_err();
        assert!(e.contains(needle), "{table}: {e}");
    }
}

#[test]
fn max_entries_zero_is_a_valid_table() {
    let c = CacheConfig::from_value(&json!({"max_entries": 0})).unwrap();
    assert_eq!(c.max_entries, 0);
}

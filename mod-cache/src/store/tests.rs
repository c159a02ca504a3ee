use super::*;
use agtp_core::Status;
use serde_json::json;
use std::time::Duration;

fn key(path: &str, input: Value) -> Arc<Key> {
    Arc::new(Key::new("QUERY", path, Some(&input), None))
}

fn answer(body: &str, ttl: Duration) -> Arc<Stored> {
    let mut response = Response::new(Status::OK);
    response.body = body.as_bytes().to_vec().into();
    Arc::new(Stored {
        response,
        expires: Instant::now() + ttl,
    })
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn inputs_differing_only_in_key_order_share_a_key() {
    let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":3}}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"a":{"x":3,"y":2},"b":1}"#).unwrap();
    let (ka, kb) = (key("/p", a), key("/p", b));
    assert_eq!(ka, kb);
    assert_eq!(ka.input, r#"{"a":{"x":3,"y":2},"b":1}"#);
    assert_ne!(key("/p", json!({"a": 1})), key("/p", json!({"a": "1"})));
}

#[test]
fn an_expired_entry_is_not_served_and_is_dropped() {
    let mut store = Store::new(10, 1 << 20);
    let k = key("/p", json!({}));
    store.insert(k.clone(), answer("x", Duration::ZERO));
    assert_eq!(store.len(), 1);
    assert!(store.get(&k, Instant::now()).is_none());
    assert_eq!((store.len(), store.bytes()), (0, 0));
}

#[test]
fn the_entry_bound_evicts_the_least_recently_used() {
    let mut store = Store::new(2, 1 << 20);
    let (a, b, c) = (
        key("/a", json!(1)),
        key("/b", json!(1)),
        key("/c", json!(1)),
    );
    assert_eq!(store.insert(a.clone(), answer("a", LONG)), Some(0));
    assert_eq!(store.insert(b.clone(), answer("b", LONG)), Some(0));
    assert!(store.get(&a, Instant::now()).is_some());
    assert_eq!(store.insert(c.clone(), answer("c", LONG)), Some(1));
    assert!(store.get(&b, Instant::now()).is_none());
    assert!(store.get(&a, Instant::now()).is_some());
    assert!(store.get(&c, Instant::now()).is_some());
    assert_eq!(store.purge_path("/b"), 0, "the evicted key left the index");
}

#[test]
fn the_byte_bound_evicts_until_it_holds_and_refuses_what_cannot_fit() {
    let k1 = key("/a", json!(1));
    let size = entry_size(&k1, &answer(&"x".repeat(100), LONG).response);
    let mut store = Store::new(100, size * 2);
    store.insert(k1, answer(&"x".repeat(100), LONG));
    store.insert(key("/b", json!(1)), answer(&"x".repeat(100), LONG));
    assert_eq!(store.bytes(), size * 2);
    let evicted = store.insert(key("/c", json!(1)), answer(&"x".repeat(150), LONG));
    assert_eq!(evicted, Some(2));
    assert_eq!(store.len(), 1);
    assert!(store.bytes() <= size * 2);
    let huge = store.insert(key("/d", json!(1)), answer(&"x".repeat(1000), LONG));
    assert_eq!(huge, None);
    assert_eq!(store.len(), 1);
}

#[test]
fn purging_a_path_drops_its_entries_and_their_bytes_only() {
    let mut store = Store::new(10, 1 << 20);
    store.insert(key("/rooms/1", json!({"a": 1})), answer("1", LONG));
    store.insert(key("/rooms/1", json!({"a": 2})), answer("2", LONG));
    let other = key("/rooms/2", json!({"a": 1}));
    store.insert(other.clone(), answer("3", LONG));
    assert_eq!(store.purge_path("/rooms/1"), 2);
    assert_eq!(store.len(), 1);
    assert_eq!(
        store.bytes(),
        entry_size(&other, &answer("3", LONG).response)
    );
    assert!(store.get(&other, Instant::now()).is_some());
}

#[test]
fn replacing_a_key_keeps_one_entry_and_its_bytes_right() {
    let mut store = Store::new(10, 1 << 20);
    let k = key("/a", json!(1));
    store.insert(k.clone(), answer("short", LONG));
    store.insert(k.clone(), answer("longer body", LONG));
    assert_eq!(store.len(), 1);
    assert_eq!(
        store.bytes(),
        entry_size(&k, &answer("longer body", LONG).response)
    );
    assert_eq!(store.purge_path("/a"), 1);
    assert_eq!(store.bytes(), 0);
}

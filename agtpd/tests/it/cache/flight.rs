//! Single-flight and invalidation through the real daemon.

use std::time::Duration;

use serde_json::json;

use super::{cache_status, is_hit, Cached, STORED_300};
use agtpd_harness::{query, Endpoint, AGENT};

/// Sends `request` on `n` connections at once; returns the answers' `Cache-Status`es.
async fn concurrently(cache: &Cached, n: usize, request: &str) -> Vec<String> {
    let mut clients = Vec::new();
    for _ in 0..n {
        let mut client = cache.server.client().await;
        client.send(request).await;
        clients.push(client);
    }
    let mut statuses = Vec::new();
    for client in &mut clients {
        let answer = tokio::time::timeout(Duration::from_secs(10), client.response())
            .await
            .expect("every caller is answered");
        statuses.push(cache_status(&answer).to_owned());
    }
    statuses
}

#[tokio::test]
async fn concurrent_identical_misses_make_one_runtime_call() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({}), 4).await;
    let slow = query("/things", r#"{"mode": "slow-ok", "delay_ms": 600}"#);
    let statuses = concurrently(&cache, 8, &slow).await;
    assert_eq!(cache.calls(), 1, "{statuses:?}");
    let stored = statuses.iter().filter(|s| *s == STORED_300).count();
    let collapsed = statuses
        .iter()
        .filter(|s| s.starts_with("agtpd; fwd=miss; collapsed; ttl="))
        .count();
    assert_eq!((stored, collapsed), (1, 7), "{statuses:?}");
}

#[tokio::test]
async fn when_the_first_of_concurrent_misses_fails_the_others_call_the_runtime_themselves() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({}), 4).await;
    let failing = query("/things", r#"{"mode": "declared-error", "delay_ms": 400}"#);
    let statuses = concurrently(&cache, 4, &failing).await;
    assert_eq!(cache.calls(), 4, "{statuses:?}");
    let leader = "agtpd; fwd=miss; fwd-status=422";
    let followers = "agtpd; fwd=miss; fwd-status=422; detail=uncollapsed";
    assert_eq!(statuses.iter().filter(|s| *s == leader).count(), 1);
    assert_eq!(statuses.iter().filter(|s| *s == followers).count(), 3);
}

#[tokio::test]
async fn followers_stop_waiting_at_the_lock_timeout() {
    let table = json!({"lock_timeout": "100ms"});
    let cache = Cached::start(&[Endpoint::query("/things")], table, 2).await;
    let slow = query("/things", r#"{"mode": "slow-ok", "delay_ms": 1500}"#);
    let statuses = concurrently(&cache, 2, &slow).await;
    assert_eq!(cache.calls(), 2);
    assert!(statuses.contains(&STORED_300.to_owned()), "{statuses:?}");
    assert!(
        statuses.contains(&"agtpd; fwd=miss; fwd-status=200; detail=uncollapsed".to_owned()),
        "{statuses:?}"
    );
}

pub(super) fn rooms() -> [Endpoint<'static>; 2] {
    [
        Endpoint::query("/rooms/{room}"),
        Endpoint {
            method: "BOOK",
            impact: "irreversible",
            idempotent: false,
            ..Endpoint::query("/rooms/{room}")
        },
    ]
}

#[tokio::test]
async fn a_non_idempotent_call_purges_every_entry_of_its_concrete_path() {
    let cache = Cached::start(&rooms(), json!({}), 1).await;
    for (path, input) in [
        ("/rooms/1", "{}"),
        ("/rooms/1", r#"{"data": "x"}"#),
        ("/rooms/2", "{}"),
    ] {
        assert_eq!(cache_status(&cache.query(path, input).await), STORED_300);
    }
    let booked = cache.call_as(AGENT, "BOOK", "/rooms/1", "{}").await;
    assert_eq!(booked.status.code(), 200);
    assert_eq!(cache_status(&booked), "agtpd; fwd=bypass");
    assert_eq!(
        cache_status(&cache.query("/rooms/1", "{}").await),
        STORED_300
    );
    let other_input = cache.query("/rooms/1", r#"{"data": "x"}"#).await;
    assert_eq!(cache_status(&other_input), STORED_300);
    assert!(
        is_hit(&cache.query("/rooms/2", "{}").await),
        "another path stays"
    );
    assert_eq!(cache.calls(), 6);
}

#[tokio::test]
async fn a_read_in_flight_while_a_write_on_its_path_completes_is_not_stored() {
    let cache = Cached::start(&rooms(), json!({}), 2).await;
    let slow = r#"{"mode": "slow-ok", "delay_ms": 800}"#;
    let mut reader = cache.server.client().await;
    reader.send(query("/rooms/1", slow)).await;
    cache.runtime.event(|e| e["event"] == "request").await;
    let booked = cache.call_as(AGENT, "BOOK", "/rooms/1", "{}").await;
    assert_eq!(booked.status.code(), 200);
    let read = reader.response().await;
    assert_eq!(
        cache_status(&read),
        "agtpd; fwd=miss; fwd-status=200; detail=invalidated"
    );
    let again = cache.query("/rooms/1", slow).await;
    assert_eq!(cache_status(&again), STORED_300);
    assert_eq!(cache.calls(), 3);
}

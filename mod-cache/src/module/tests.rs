//! The hooks driven directly, as the pipeline drives them: outcomes, `Cache-Status` and
//! the metrics they leave. The end-to-end behaviour (a real daemon, a real runtime) is in
//! `agtpd/tests/it/cache.rs`.

use std::sync::Arc;
use std::time::Duration;

use agtp_core::module::{Cx, EndpointFacts, Flow, MetricKind, Module};
use agtp_core::{Request, Response, Status};
use serde_json::json;

use crate::{CacheConfig, CacheModule};

fn cache(table: serde_json::Value) -> Arc<CacheModule> {
    Arc::new(CacheModule::new(&CacheConfig::from_value(&table).unwrap()).unwrap())
}

fn cx(impact: &str, idempotent: bool, path: &str) -> Cx {
    let mut cx = Cx::default();
    cx.agent_id = Some("agent-a".into());
    cx.endpoint = Some(EndpointFacts {
        method: "QUERY".into(),
        path: "/rooms/{id}".into(),
        request_path: path.into(),
        impact: impact.into(),
        idempotent,
        handler: "registered_function".into(),
        handler_config: serde_json::Value::Null,
    });
    cx.input = Some(json!({"id": path}));
    cx
}

fn answer(status: Status, body: &str) -> Response {
    let mut response = Response::new(status);
    response.body = body.as_bytes().to_vec().into();
    response
}

/// One exchange: `on_request`, then (unless the cache answered) `handler`, then
/// `on_response`. Returns the answer and its `Cache-Status`.
async fn exchange(cache: &CacheModule, mut cx: Cx, handler: Response) -> (Response, String) {
    let mut request = Request::new("QUERY", Some("/rooms/1"));
    let mut response = match cache.on_request(&mut request, &mut cx).await.unwrap() {
        Flow::Respond(response) => response,
        Flow::Continue => handler,
    };
    cache.on_response(&mut response, &mut cx).await.unwrap();
    let status = response.headers.get("Cache-Status").unwrap().to_owned();
    (response, status)
}

fn metric(cache: &CacheModule, name: &str) -> u64 {
    let sample = cache
        .metrics()
        .into_iter()
        .find(|m| m.name == name)
        .unwrap();
    assert_eq!(
        sample.kind == MetricKind::Counter,
        name.ends_with("_total"),
        "{name}"
    );
    sample.value
}

#[tokio::test]
async fn a_miss_is_stored_then_served_and_the_metrics_count_both() {
    let cache = cache(json!({}));
    let (_, first) = exchange(
        &cache,
        cx("informational", true, "/rooms/1"),
        answer(Status::OK, "v1"),
    )
    .await;
    assert_eq!(first, "agtpd; fwd=miss; fwd-status=200; stored; ttl=300");
    let (served, second) = exchange(
        &cache,
        cx("informational", true, "/rooms/1"),
        answer(Status::OK, "v2"),
    )
    .await;
    let ttl: u64 = second
        .strip_prefix("agtpd; hit; ttl=")
        .unwrap()
        .parse()
        .unwrap();
    assert!((290..300).contains(&ttl), "{second}");
    assert_eq!(&served.body[..], b"v1");
    assert_eq!(served.headers.get_all("Cache-Status").count(), 1);
    assert_eq!(metric(&cache, "cache_misses_total"), 1);
    assert_eq!(metric(&cache, "cache_hits_total"), 1);
    assert_eq!(metric(&cache, "cache_stores_total"), 1);
    assert_eq!(metric(&cache, "cache_entries"), 1);
    assert!(metric(&cache, "cache_bytes") > 2);
    let names: Vec<_> = cache.metrics().iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "cache_hits_total",
            "cache_misses_total",
            "cache_collapsed_total",
            "cache_stores_total",
            "cache_evictions_total",
            "cache_invalidations_total",
            "cache_backend_errors_total",
            "cache_entries",
            "cache_bytes",
        ]
    );
}

#[tokio::test]
async fn errors_are_forwarded_with_their_status_and_never_stored() {
    let cache = cache(json!({}));
    for _ in 0..2 {
        let (_, status) = exchange(
            &cache,
            cx("informational", true, "/rooms/1"),
            answer(Status::from_code(422).unwrap(), "{}"),
        )
        .await;
        assert_eq!(status, "agtpd; fwd=miss; fwd-status=422");
    }
    assert_eq!(metric(&cache, "cache_misses_total"), 2);
    assert_eq!(metric(&cache, "cache_entries"), 0);
}

#[tokio::test]
async fn a_body_over_max_body_is_not_stored() {
    let cache = cache(json!({"max_body": 4}));
    let (_, status) = exchange(
        &cache,
        cx("informational", true, "/r"),
        answer(Status::OK, "12345"),
    )
    .await;
    assert_eq!(status, "agtpd; fwd=miss; fwd-status=200; detail=too-large");
    assert_eq!(metric(&cache, "cache_entries"), 0);
}

#[tokio::test]
async fn a_non_idempotent_call_purges_its_path_and_bypasses() {
    let cache = cache(json!({}));
    exchange(
        &cache,
        cx("informational", true, "/rooms/1"),
        answer(Status::OK, "1"),
    )
    .await;
    exchange(
        &cache,
        cx("informational", true, "/rooms/2"),
        answer(Status::OK, "2"),
    )
    .await;
    let (_, status) = exchange(
        &cache,
        cx("irreversible", false, "/rooms/1"),
        answer(Status::OK, "done"),
    )
    .await;
    assert_eq!(status, "agtpd; fwd=bypass");
    assert_eq!(metric(&cache, "cache_invalidations_total"), 1);
    assert_eq!(metric(&cache, "cache_entries"), 1);
    let (_, again) = exchange(
        &cache,
        cx("informational", true, "/rooms/1"),
        answer(Status::OK, "1"),
    )
    .await;
    assert!(again.contains("fwd=miss"), "{again}");
}

#[tokio::test]
async fn a_read_that_ran_across_a_write_on_its_path_is_not_stored() {
    let cache = cache(json!({}));
    let mut reading = cx("informational", true, "/rooms/1");
    let mut request = Request::new("QUERY", Some("/rooms/1"));
    let flow = cache.on_request(&mut request, &mut reading).await.unwrap();
    assert!(matches!(flow, Flow::Continue));
    exchange(
        &cache,
        cx("reversible", false, "/rooms/1"),
        answer(Status::OK, "w"),
    )
    .await;
    let mut response = answer(Status::OK, "old");
    cache
        .on_response(&mut response, &mut reading)
        .await
        .unwrap();
    assert_eq!(
        response.headers.get("Cache-Status"),
        Some("agtpd; fwd=miss; fwd-status=200; detail=invalidated")
    );
    assert_eq!(metric(&cache, "cache_entries"), 0);
}

// Paused time: the sleep ends once the follower is parked on the flight, and a follower
// left waiting would end the 5 s timeout, not the 60 s lock.
#[tokio::test(start_paused = true)]
async fn a_leader_dropped_without_on_response_lets_its_followers_through() {
    let cache = cache(json!({"lock_timeout": "60s"}));
    let mut leading = cx("informational", true, "/rooms/1");
    let mut request = Request::new("QUERY", Some("/rooms/1"));
    cache.on_request(&mut request, &mut leading).await.unwrap();
    let follower = {
        let cache = cache.clone();
        tokio::spawn(async move {
            exchange(
                &cache,
                cx("informational", true, "/rooms/1"),
                answer(Status::OK, "f"),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(leading);
    let (_, status) = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("the follower is released, not left waiting")
        .unwrap();
    assert_eq!(
        status,
        "agtpd; fwd=miss; fwd-status=200; detail=uncollapsed"
    );
}

#[tokio::test]
async fn agent_scoped_endpoints_key_on_the_agent_and_overrides_set_the_ttl() {
    let cache = cache(json!({
        "endpoints": {"QUERY /rooms/{id}": {"agent_scoped": true, "ttl": "10s"}}
    }));
    let (_, first) = exchange(
        &cache,
        cx("informational", true, "/rooms/1"),
        answer(Status::OK, "a"),
    )
    .await;
    assert_eq!(first, "agtpd; fwd=miss; fwd-status=200; stored; ttl=10");
    let mut other = cx("informational", true, "/rooms/1");
    other.agent_id = Some("agent-b".into());
    let (served, status) = exchange(&cache, other, answer(Status::OK, "b")).await;
    assert!(status.contains("fwd=miss"), "{status}");
    assert_eq!(&served.body[..], b"b");
    assert_eq!(metric(&cache, "cache_entries"), 2);
}

#[tokio::test]
async fn max_entries_zero_stores_nothing_and_says_so() {
    let cache = cache(json!({"max_entries": 0}));
    for _ in 0..2 {
        let (_, status) = exchange(
            &cache,
            cx("informational", true, "/r"),
            answer(Status::OK, "x"),
        )
        .await;
        assert_eq!(status, "agtpd; fwd=bypass; detail=disabled");
    }
    assert!(cache.metrics().iter().all(|m| m.value == 0));
}

#[tokio::test(start_paused = true)]
async fn an_entry_lives_exactly_its_ttl_on_the_clock_and_hits_do_not_extend_it() {
    let cache = cache(json!({"ttl": "10s"}));
    let call = || {
        exchange(
            &cache,
            cx("informational", true, "/rooms/1"),
            answer(Status::OK, "v1"),
        )
    };
    assert!(call().await.1.contains("stored; ttl=10"));
    for _ in 0..9 {
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            call().await.1.starts_with("agtpd; hit"),
            "a hit within the TTL"
        );
    }
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(call().await.1, "agtpd; hit; ttl=0");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(
        call().await.1.contains("fwd=miss"),
        "expired at 10 s, hits or not"
    );
}

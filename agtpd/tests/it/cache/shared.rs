//! `backend = "redis"` against a real `redis-server`: two replicas sharing entries and
//! purges, Redis expiry as the TTL, and Redis killed under load and restarted.

use std::time::Duration;

use agtpd_harness::redis::RedisServer;
use agtpd_harness::AGENT;
use serde_json::{json, Value};

use super::{cache_status, is_hit, Cached};
use crate::cache::flight::rooms;

const UNAVAILABLE: &str = "agtpd; fwd=bypass; detail=backend-unavailable";

fn table(redis: &RedisServer, extra: Value) -> Value {
    let mut table = json!({
        "backend": "redis",
        "redis": {"url": redis.url(), "timeout": "200ms"},
    });
    if let (Some(t), Value::Object(extra)) = (table.as_object_mut(), extra) {
        t.extend(extra);
    }
    table
}

fn backend_errors(cache: &Cached) -> u64 {
    let text = cache.server.daemon().encode_metrics().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("agtpd_cache_backend_errors_total{} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn replicas_share_entries_and_a_purge_on_one_is_seen_by_the_other() {
    let redis = RedisServer::start();
    let a = Cached::start(&rooms(), table(&redis, json!({})), 1).await;
    let b = Cached::start(&rooms(), table(&redis, json!({})), 1).await;

    assert_eq!(
        cache_status(&a.query("/rooms/1", "{}").await),
        super::STORED_300
    );
    let from_b = b.query("/rooms/1", "{}").await;
    assert!(is_hit(&from_b), "{}", cache_status(&from_b));
    assert_eq!(from_b.status.code(), 200);
    assert_eq!((a.calls(), b.calls()), (1, 0), "B never called its runtime");

    let booked = a.call_as(AGENT, "BOOK", "/rooms/1", "{}").await;
    assert_eq!(cache_status(&booked), "agtpd; fwd=bypass");
    let after = b.query("/rooms/1", "{}").await;
    assert_eq!(cache_status(&after), super::STORED_300, "B saw A's purge");
    assert_eq!(b.calls(), 1);
    assert!(
        is_hit(&a.query("/rooms/1", "{}").await),
        "and A sees B's new entry"
    );
    assert!(is_hit(&b.query("/rooms/2", "{}").await) || b.calls() == 2);
}

#[tokio::test]
async fn entries_expire_with_their_ttl() {
    let redis = RedisServer::start();
    let cache = Cached::start(&rooms(), table(&redis, json!({"ttl": "1s"})), 1).await;
    let first = cache.query("/rooms/1", "{}").await;
    assert_eq!(
        cache_status(&first),
        "agtpd; fwd=miss; fwd-status=200; stored; ttl=1"
    );
    assert!(is_hit(&cache.query("/rooms/1", "{}").await));
    agtpd_harness::wait::until("the entry expires", Duration::from_secs(5), || async {
        let again = cache.query("/rooms/1", "{}").await;
        cache_status(&again).contains("stored").then_some(())
    })
    .await;
    assert!(cache.calls() >= 2);
}

#[tokio::test]
async fn redis_killed_under_load_costs_no_agent_an_error_and_a_restart_brings_the_cache_back() {
    let mut redis = RedisServer::start();
    let cache = Cached::start(&rooms(), table(&redis, json!({})), 2).await;
    assert_eq!(
        cache_status(&cache.query("/rooms/1", "{}").await),
        super::STORED_300
    );

    let mut statuses = Vec::new();
    for i in 0..60 {
        if i == 20 {
            redis.kill();
        }
        let answer = cache.query("/rooms/1", "{}").await;
        assert_eq!(answer.status.code(), 200, "request {i}: {answer:?}");
        statuses.push(cache_status(&answer).to_owned());
    }
    assert!(
        statuses[..20].iter().all(|s| s.starts_with("agtpd; hit")),
        "{statuses:?}"
    );
    assert!(
        statuses[20..].iter().all(|s| s == UNAVAILABLE),
        "{statuses:?}"
    );
    // One failure, then the backend is skipped for a second rather than asked again.
    let errors = backend_errors(&cache);
    assert!((1..=3).contains(&errors), "{errors} backend errors");

    redis.restart();
    agtpd_harness::wait::until(
        "the cache stores again",
        Duration::from_secs(10),
        || async {
            let answer = cache.query("/rooms/1", "{}").await;
            assert_eq!(answer.status.code(), 200);
            (cache_status(&answer) == super::STORED_300).then_some(())
        },
    )
    .await;
    assert!(is_hit(&cache.query("/rooms/1", "{}").await));
}

#[tokio::test]
async fn a_redis_that_hangs_costs_one_timeout_then_the_cache_bypasses_at_once() {
    let redis = RedisServer::start();
    let cache = Cached::start(&rooms(), table(&redis, json!({})), 1).await;
    assert_eq!(
        cache_status(&cache.query("/rooms/1", "{}").await),
        super::STORED_300
    );
    redis.freeze(true);
    let started = std::time::Instant::now();
    for _ in 0..15 {
        let answer = cache.query("/rooms/1", "{}").await;
        assert_eq!(
            (answer.status.code(), cache_status(&answer)),
            (200, UNAVAILABLE)
        );
    }
    // The first waits out the 200 ms timeout; the rest skip the paused backend (asking
    // each time would take 15 x 200 ms).
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    redis.freeze(false);
}

//! `mod-cache` through the real daemon, with a real runtime process (`misbehaving.py`)
//! whose logged `request` events count the handler calls: hits, fixed TTLs, overrides,
//! agent scoping, errors, bypass, bounds and the disabled cache here; single-flight and
//! invalidation in `flight.rs`; the shared backend on a real Redis in `shared.rs`.

mod flight;
mod shared;

use std::time::{Duration, Instant};

use agtp_core::Response;
use agtpd::modules::ModulesConfig;
use agtpd_harness::TestDaemon;
use agtpd_harness::{body, ready, Endpoint, Runtime, Site, AGENT, AGENT_DOCUMENT};
use serde_json::{json, Value};

/// A second hosted agent, for agent-scoped keys.
const OTHER: &str = "1f3e5d7c9b0a2f4e6d8c0b2a4f6e8d0c2b4a6f8e0d2c4b6a8f0e2d4c6b8a0f2e";

/// A site, a daemon loading `cache` with `table`, and a runtime with `connections`.
struct Cached {
    _site: Site,
    server: TestDaemon,
    runtime: Runtime,
}

impl Cached {
    async fn start(endpoints: &[Endpoint<'_>], table: Value, connections: usize) -> Cached {
        let site = Site::new(endpoints);
        let other = AGENT_DOCUMENT
            .replace(AGENT, OTHER)
            .replace("gateway-tester", "other-tester");
        std::fs::write(site.dir.path().join("agents/other.agent.json"), other).unwrap();
        let mut config = site.config();
        config.modules = ModulesConfig {
            load: vec!["cache".into()],
            tables: [("cache".to_owned(), table)].into(),
        };
        let server = site.serve(config).await;
        let n = connections.to_string();
        let runtime = site.runtime("ok", &["--connections", &n]);
        ready(&server, "default", connections).await;
        Cached {
            _site: site,
            server,
            runtime,
        }
    }

    /// `METHOD path` with `input` as the body, as `agent`.
    async fn call_as(&self, agent: &str, method: &str, path: &str, input: &str) -> Response {
        let request = format!(
            "AGTP/1.0 {method} {path}\r\nAgent-ID: {agent}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{input}",
            input.len()
        );
        self.server.client().await.exchange(request).await
    }

    async fn query(&self, path: &str, input: &str) -> Response {
        self.call_as(AGENT, "QUERY", path, input).await
    }

    /// How many requests the runtime has been sent.
    fn calls(&self) -> usize {
        self.runtime
            .events()
            .iter()
            .filter(|e| e["event"] == "request")
            .count()
    }
}

fn cache_status(response: &Response) -> &str {
    response.headers.get("Cache-Status").unwrap_or("(none)")
}

const STORED_300: &str = "agtpd; fwd=miss; fwd-status=200; stored; ttl=300";

fn is_hit(response: &Response) -> bool {
    cache_status(response).starts_with("agtpd; hit; ttl=")
}

#[tokio::test]
async fn a_repeated_call_is_answered_from_the_cache_without_calling_the_runtime() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({}), 1).await;
    let first = cache
        .query("/things", r#"{"data": "x", "mode": "ok"}"#)
        .await;
    assert_eq!(first.status.code(), 200);
    assert_eq!(cache_status(&first), STORED_300);
    let again = cache
        .query("/things", r#"{"mode": "ok", "data": "x"}"#)
        .await;
    assert_eq!(cache_status(&again), "agtpd; hit; ttl=299");
    assert_eq!(again.body, first.body, "the stored body, byte for byte");
    assert_eq!(again.headers.get("X-Handler"), Some("misbehaving"));
    assert_ne!(
        again.headers.get("Response-ID"),
        first.headers.get("Response-ID"),
        "every answer gets a fresh Response-ID"
    );
    // The query merges into the same input, so it is the same key.
    let by_query = cache.query("/things?data=x&mode=ok", "").await;
    assert!(is_hit(&by_query), "{}", cache_status(&by_query));
    let other_input = cache.query("/things", r#"{"data": "y"}"#).await;
    assert_eq!(cache_status(&other_input), STORED_300);
    assert_eq!(cache.calls(), 2);
    // What never reaches the cache's hooks carries no Cache-Status.
    let discover = format!("AGTP/1.0 DISCOVER\r\nAgent-ID: {AGENT}\r\n\r\n");
    let manifest = cache.server.client().await.exchange(discover).await;
    assert_eq!(manifest.headers.get("Cache-Status"), None);
}

#[tokio::test]
async fn an_entry_expires_a_fixed_ttl_after_insertion_however_often_it_is_hit() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({"ttl": "1s"}), 1).await;
    let sent = Instant::now();
    let first = cache.query("/things", "{}").await;
    let stored = Instant::now();
    assert_eq!(
        cache_status(&first),
        "agtpd; fwd=miss; fwd-status=200; stored; ttl=1"
    );
    // Inserted after `sent`, so fresh until at least sent + 1 s: these are all hits. A
    // TTL that slid on each hit would last until at least sent + 1.7 s.
    for at in [100, 300, 500, 700] {
        tokio::time::sleep_until((sent + Duration::from_millis(at)).into()).await;
        let hit = cache.query("/things", "{}").await;
        assert_eq!(cache_status(&hit), "agtpd; hit; ttl=0", "at {at} ms");
    }
    // Inserted before `stored`, so expired by stored + 1 s.
    tokio::time::sleep_until((stored + Duration::from_millis(1500)).into()).await;
    let expired = cache.query("/things", "{}").await;
    assert_eq!(
        cache_status(&expired),
        "agtpd; fwd=miss; fwd-status=200; stored; ttl=1"
    );
    assert_eq!(cache.calls(), 2);
}

#[tokio::test]
async fn a_per_endpoint_ttl_overrides_the_default() {
    let table = json!({"endpoints": {"QUERY /short": {"ttl": "1s"}}});
    let endpoints = [Endpoint::query("/short"), Endpoint::query("/long")];
    let cache = Cached::start(&endpoints, table, 1).await;
    let short = cache.query("/short", "{}").await;
    assert_eq!(
        cache_status(&short),
        "agtpd; fwd=miss; fwd-status=200; stored; ttl=1"
    );
    assert_eq!(cache_status(&cache.query("/long", "{}").await), STORED_300);
    let stored = Instant::now();
    // Each probe that hits is answered from the cache; the first miss calls the handler.
    agtpd_harness::wait::until("the 1 s entry expires", Duration::from_secs(5), || async {
        (!is_hit(&cache.query("/short", "{}").await)).then_some(())
    })
    .await;
    assert!(
        stored.elapsed() >= Duration::from_millis(900),
        "expired early"
    );
    assert!(is_hit(&cache.query("/long", "{}").await));
    assert_eq!(cache.calls(), 3);
}

#[tokio::test]
async fn an_agent_scoped_endpoint_keeps_one_entry_per_agent_while_others_share() {
    let table = json!({"endpoints": {"QUERY /mine": {"agent_scoped": true}}});
    let endpoints = [Endpoint::query("/mine"), Endpoint::query("/shared")];
    let cache = Cached::start(&endpoints, table, 1).await;
    let mine = |agent: &'static str| cache.call_as(agent, "QUERY", "/mine", "{}");
    assert_eq!(cache_status(&mine(AGENT).await), STORED_300);
    assert_eq!(cache_status(&mine(OTHER).await), STORED_300);
    assert!(is_hit(&mine(AGENT).await));
    assert!(is_hit(&mine(OTHER).await));
    let shared = |agent: &'static str| cache.call_as(agent, "QUERY", "/shared", "{}");
    assert_eq!(cache_status(&shared(AGENT).await), STORED_300);
    assert!(is_hit(&shared(OTHER).await));
    assert_eq!(cache.calls(), 3);
}

#[tokio::test]
async fn errors_are_never_cached() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({}), 1).await;
    for (mode, status) in [("declared-error", 422), ("exception", 500)] {
        let input = format!(r#"{{"mode": "{mode}"}}"#);
        for _ in 0..2 {
            let answer = cache.query("/things", &input).await;
            assert_eq!(answer.status.code(), status);
            let expected = format!("agtpd; fwd=miss; fwd-status={status}");
            assert_eq!(cache_status(&answer), expected);
        }
    }
    assert_eq!(cache.calls(), 4);
}

#[tokio::test]
async fn only_informational_endpoints_are_cached_and_idempotent_is_not_enough() {
    let endpoints = [
        Endpoint {
            method: "BOOK",
            impact: "irreversible",
            idempotent: false,
            ..Endpoint::query("/reservations")
        },
        Endpoint {
            method: "FETCH",
            impact: "reversible",
            idempotent: false,
            ..Endpoint::query("/drafts")
        },
        // Like the booking sample's CANCEL: repeating it is harmless, replaying it is not.
        Endpoint {
            method: "FETCH",
            impact: "reversible",
            idempotent: true,
            ..Endpoint::query("/bookings/b-1")
        },
    ];
    let cache = Cached::start(&endpoints, json!({}), 1).await;
    for (method, path) in [
        ("BOOK", "/reservations"),
        ("FETCH", "/drafts"),
        ("FETCH", "/bookings/b-1"),
    ] {
        for _ in 0..2 {
            let answer = cache.call_as(AGENT, method, path, "{}").await;
            assert_eq!(answer.status.code(), 200);
            assert_eq!(
                cache_status(&answer),
                "agtpd; fwd=bypass",
                "{method} {path}"
            );
        }
    }
    assert_eq!(cache.calls(), 6, "every call reached the handler");
}

#[tokio::test]
async fn a_call_purges_the_paths_its_endpoint_says_it_invalidates() {
    let endpoints = [
        Endpoint::query("/rooms/availability"),
        Endpoint::query("/bookings/b-1"),
        Endpoint {
            method: "BOOK",
            impact: "irreversible",
            idempotent: false,
            ..Endpoint::query("/rooms/101")
        },
    ];
    let table = json!({"endpoints": {"BOOK /rooms/101": {"invalidates": ["/rooms/availability"]}}});
    let cache = Cached::start(&endpoints, table, 1).await;
    for path in ["/rooms/availability", "/bookings/b-1"] {
        assert_eq!(cache_status(&cache.query(path, "{}").await), STORED_300);
    }
    let booked = cache.call_as(AGENT, "BOOK", "/rooms/101", "{}").await;
    assert_eq!(booked.status.code(), 200);
    assert_eq!(
        cache_status(&cache.query("/rooms/availability", "{}").await),
        STORED_300,
        "the availability was purged by the booking"
    );
    assert!(
        is_hit(&cache.query("/bookings/b-1", "{}").await),
        "a path not listed stays"
    );
    assert_eq!(cache.calls(), 4);
}

#[tokio::test]
async fn the_entry_bound_evicts_the_least_recently_used_entry() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({"max_entries": 2}), 1).await;
    for data in ["a", "b", "a", "c"] {
        cache
            .query("/things", &format!(r#"{{"data": "{data}"}}"#))
            .await;
    }
    assert_eq!(cache.calls(), 3, "a, b, then a was a hit, then c evicted b");
    assert!(is_hit(&cache.query("/things", r#"{"data": "a"}"#).await));
    assert!(is_hit(&cache.query("/things", r#"{"data": "c"}"#).await));
    assert!(!is_hit(&cache.query("/things", r#"{"data": "b"}"#).await));
    assert_eq!(cache.calls(), 4);
}

#[tokio::test]
async fn the_byte_bound_evicts_and_an_entry_larger_than_it_is_not_stored() {
    // Each entry holds its input twice (key and echoed body): about 550 bytes for 200.
    let cache = Cached::start(&[Endpoint::query("/things")], json!({"max_bytes": 900}), 1).await;
    let input = |c: char, n| format!(r#"{{"data": "{}"}}"#, c.to_string().repeat(n));
    assert_eq!(
        cache_status(&cache.query("/things", &input('a', 200)).await),
        STORED_300
    );
    assert!(is_hit(&cache.query("/things", &input('a', 200)).await));
    assert_eq!(
        cache_status(&cache.query("/things", &input('b', 200)).await),
        STORED_300
    );
    assert!(
        !is_hit(&cache.query("/things", &input('a', 200)).await),
        "a was evicted"
    );
    let huge = cache.query("/things", &input('c', 500)).await;
    assert_eq!(
        cache_status(&huge),
        "agtpd; fwd=miss; fwd-status=200; detail=too-large"
    );
    assert!(
        is_hit(&cache.query("/things", &input('a', 200)).await),
        "a stayed"
    );
    assert_eq!(cache.calls(), 4);
}

#[tokio::test]
async fn max_entries_zero_disables_the_cache_and_says_so() {
    let cache = Cached::start(&[Endpoint::query("/things")], json!({"max_entries": 0}), 1).await;
    for _ in 0..2 {
        let answer = cache.query("/things", "{}").await;
        assert_eq!(answer.status.code(), 200);
        assert_eq!(cache_status(&answer), "agtpd; fwd=bypass; detail=disabled");
    }
    assert_eq!(cache.calls(), 2);
    assert_eq!(
        body(&cache.query("/things", "{}").await)["echoed"],
        json!({})
    );
}

//! Runtimes that break the protocol, or send frames while idle: the daemon answers with
//! the protocol's `error`, closes that connection only, fails the request in flight, and
//! keeps serving.

use std::time::Duration;

use agtpd::gateway::config::GatewayConfig;
use agtpd_harness::error_code;
use agtpd_harness::{pool, query, ready, until, Endpoint, Site};

/// The request fails with 503 `runtime-failed`, the runtime hears `code`, reconnects,
/// and the next request is served.
async fn breaks_with(mode: &str, code: &str) {
    let endpoint = Endpoint {
        idempotent: false,
        ..Endpoint::query("/things")
    };
    let site = Site::new(&[endpoint]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let mut client = server.client().await;
    let input = format!(r#"{{"mode": "{mode}"}}"#);
    let broken = client.exchange(query("/things", &input)).await;
    assert_eq!(broken.status.code(), 503, "{mode}");
    assert_eq!(error_code(&broken), "runtime-failed", "{mode}");
    runtime
        .event(|e| e["event"] == "error" && e["code"] == code)
        .await;
    until(&server, "default", |p| p.n_idle == 1 && p.n_failed == 1).await;
    let next = client.exchange(query("/things", "{}")).await;
    assert_eq!(next.status.code(), 200, "after {mode}");
}

#[tokio::test]
async fn an_answer_for_another_request_id_is_request_id_mismatch() {
    breaks_with("wrong-id", "request_id_mismatch").await;
}

#[tokio::test]
async fn a_payload_that_is_not_a_frame_is_malformed_frame() {
    breaks_with("garbage", "malformed_frame").await;
}

#[tokio::test]
async fn a_frame_announcing_a_gibibyte_is_refused_before_it_is_read() {
    breaks_with("oversized", "frame_too_large").await;
}

#[tokio::test]
async fn a_response_while_idle_is_a_phase_violation_that_poisons_nothing() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("idle-response", &[]);
    runtime
        .event(|e| e["event"] == "error" && e["code"] == "phase_violation")
        .await;
    ready(&server, "default", 1).await;
    let response = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(response.status.code(), 200);
}

#[tokio::test]
async fn a_stray_ping_while_idle_is_answered_and_the_next_request_is_fine() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("stray-ping", &[]);
    runtime
        .event(|e| e["event"] == "pong" && e["nonce"] == "stray-1")
        .await;
    ready(&server, "default", 1).await;
    let response = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(response.status.code(), 200);
    let welcomes = runtime
        .events()
        .iter()
        .filter(|e| e["event"] == "welcome")
        .count();
    assert_eq!(welcomes, 1, "the same connection serves");
}

fn quick_keepalive(site: &Site) -> agtpd::config::Config {
    agtpd::config::Config {
        gateway: GatewayConfig {
            keepalive_interval: Duration::from_millis(100),
            pong_timeout: Duration::from_millis(150),
            ..GatewayConfig::default()
        },
        ..site.config()
    }
}

#[tokio::test]
async fn an_idle_connection_that_misses_its_pong_is_dropped() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(quick_keepalive(&site)).await;
    let deaf = site.runtime("deaf", &[]);
    deaf.event(|e| e["event"] == "ping").await;
    deaf.event(|e| e["event"] == "closed").await;
    drop(server);
}

#[tokio::test]
async fn an_idle_connection_that_answers_its_pings_is_kept() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(quick_keepalive(&site)).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let pings = || {
        runtime
            .events()
            .iter()
            .filter(|e| e["event"] == "ping")
            .count()
    };
    runtime.event(|_| pings() >= 2).await;
    let events = runtime.events();
    assert!(events.iter().all(|e| e["event"] != "closed"), "{events:?}");
    assert_eq!(pool(&server, "default").n_connections, 1);
}

#[tokio::test]
async fn a_broken_connection_leaves_the_other_connections_serving() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let _runtime = site.runtime("ok", &["--connections", "2"]);
    ready(&server, "default", 2).await;
    let (mut first, mut second) = (server.client().await, server.client().await);
    let garbage = first.exchange(query("/things", r#"{"mode": "garbage"}"#));
    let fine = second.exchange(query("/things", r#"{"mode": "slow-ok", "delay_ms": 100}"#));
    let (garbage, fine) = tokio::join!(garbage, fine);
    assert_eq!(garbage.status.code(), 503);
    assert_eq!(fine.status.code(), 200);
}

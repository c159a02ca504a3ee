//! mod-proxy with real daemons chained on loopback: two and three deep, what crosses each
//! hop, what stays local at the edge, and the 508 refusals of a loop.

use crate::proxy::{edge_config, proxy_endpoint, Edge, Origin};
use agtpd::config::Config;
use agtpd_harness::error_code;
use agtpd_harness::{body, query, Endpoint, AGENT};
use serde_json::json;

#[tokio::test]
async fn two_deep_the_origin_gets_the_identity_headers_and_none_of_the_hop_by_hop_ones() {
    let origin = Origin::start("origin", "ok").await;
    let edge = Edge::bound("edge", &[origin.uri()], "").await;
    let input = r#"{"data":"hello"}"#;
    let raw = format!(
        "AGTP/1.0 QUERY /things?status=201\r\nAgent-ID: {AGENT}\r\nPrincipal-ID: tests@example.org\r\n\
         Session-ID: s-1\r\nTask-ID: t-1\r\nRequest-ID: r-1\r\nAuthority-Scope: test:run\r\n\
         Connection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n\
         Proxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\nTE: trailers\r\nX-Custom: kept\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{input}",
        input.len()
    );
    let response = edge.server.client().await.exchange(raw).await;
    assert_eq!(response.status.code(), 201, "{:?}", body(&response));
    assert_eq!(
        body(&response)["echoed"],
        json!({"status": 201, "data": "hello"})
    );
    let headers = &response.headers;
    assert_eq!(
        headers.get("Server-ID"),
        Some("edge"),
        "the edge stamps its own"
    );
    assert_eq!(
        headers.get("X-Handler"),
        Some("misbehaving"),
        "end-to-end, relayed"
    );
    assert_eq!(headers.get("Task-ID"), Some("t-1"));
    assert_eq!(headers.get("Request-ID"), Some("r-1"));

    let seen = origin.runtime.event(|e| e["event"] == "request").await;
    let envelope = &seen["envelope"];
    assert_eq!(envelope["path"], "/things");
    assert_eq!(envelope["agent_id"], AGENT);
    let forwarded = &envelope["headers"];
    for (name, value) in [
        ("agent-id", AGENT),
        ("principal-id", "tests@example.org"),
        ("session-id", "s-1"),
        ("task-id", "t-1"),
        ("request-id", "r-1"),
        ("authority-scope", "test:run"),
        ("x-custom", "kept"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(forwarded[name], value, "{name} in {forwarded}");
    }
    for hop in [
        "connection",
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "upgrade",
        "te",
    ] {
        assert!(forwarded.get(hop).is_none(), "{hop} crossed: {forwarded}");
    }
    let via = forwarded["via"].as_str().unwrap();
    assert!(
        via.starts_with("AGTP/1.0 edge (") && via.ends_with(')') && !via.contains(','),
        "{via}"
    );
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &origin.uri())]),
        1
    );
}

#[tokio::test]
async fn three_deep_through_catch_alls_the_origin_sees_both_proxies_and_the_edge_keeps_its_own_gates(
) {
    let origin = Origin::start("origin", "ok").await;
    let middle = Edge::start("middle", &[], json!({"catch_all": origin.uri()})).await;
    let edge = Edge::start("edge", &[], json!({"catch_all": [middle.uri()]})).await;
    let mut client = edge.server.client().await;

    let response = client.exchange(query("/things", r#"{"data":"x"}"#)).await;
    assert_eq!(response.status.code(), 200, "{:?}", body(&response));
    assert_eq!(body(&response)["echoed"]["data"], "x");
    let seen = origin.runtime.event(|e| e["event"] == "request").await;
    let via = seen["envelope"]["headers"]["via"].as_str().unwrap();
    let entries: Vec<&str> = via.split(", ").collect();
    assert_eq!(entries.len(), 2, "{via}");
    assert!(
        entries[0].starts_with("AGTP/1.0 edge (") && entries[1].starts_with("AGTP/1.0 middle (")
    );

    // Built-ins stay local: the edge's own manifest, which has no endpoint.
    let manifest = client.exchange("AGTP/1.0 DISCOVER\r\n\r\n").await;
    assert_eq!(manifest.status.code(), 200);
    assert_eq!(manifest.headers.get("Server-ID"), Some("edge"));
    assert_eq!(body(&manifest)["endpoints"], json!([]));
    // The gates before routing still run at the edge: catalog, identity.
    let unknown_verb = client
        .exchange(format!(
            "AGTP/1.0 FETHC /things\r\nAgent-ID: {AGENT}\r\n\r\n"
        ))
        .await;
    assert_eq!(error_code(&unknown_verb), "method-violation");
    let anonymous = client.exchange("AGTP/1.0 QUERY /things\r\n\r\n").await;
    assert_eq!(error_code(&anonymous), "missing-agent-id");
    let stranger = client
        .exchange(format!(
            "AGTP/1.0 QUERY /things\r\nAgent-ID: {}\r\n\r\n",
            "ab".repeat(32)
        ))
        .await;
    assert_eq!(error_code(&stranger), "agent-not-found");
    // Only the first request went upstream.
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &middle.uri())]),
        1
    );
}

#[tokio::test]
async fn without_a_catch_all_an_unrouted_request_still_gets_the_local_refusal() {
    let edge = Edge::start("edge", &[], json!({})).await;
    let response = edge.query("/elsewhere").await;
    // QUERY is an embedded verb this edge serves nowhere: 405, not forwarded.
    assert_eq!(response.status.code(), 405);
    assert_eq!(error_code(&response), "method-not-implemented");
}

#[tokio::test]
async fn a_loop_between_two_proxies_is_refused_with_508_loop_detected() {
    // A forwards QUERY /things to a placeholder; B forwards everything to A; then A's
    // endpoint is reloaded to point at B: A -> B -> A.
    let a = Edge::bound("a", &["agtp://127.0.0.1:9".to_owned()], "").await;
    let b = Edge::start("b", &[], json!({"catch_all": a.uri()})).await;
    let file = proxy_endpoint(
        &Endpoint::query("/things"),
        &format!("upstream = \"{}\"", b.uri()),
    );
    std::fs::write(a.site.dir.path().join("endpoints/proxied-0.toml"), file).unwrap();
    let config: Config = edge_config(&a.site, "a", json!({}));
    a.server.daemon().reload(&config).unwrap();

    let response = a.query("/things").await;
    assert_eq!(response.status.code(), 508, "{:?}", body(&response));
    assert_eq!(error_code(&response), "loop-detected");
    assert_eq!(body(&response)["error"]["hops"], 2);
    assert_eq!(a.metric("proxy_loops_refused_total", &[]), 1);
    assert_eq!(
        a.metric("proxy_requests_total", &[("upstream", &b.uri())]),
        1
    );
}

#[tokio::test]
async fn a_request_past_max_hops_is_refused_with_508_too_many_hops() {
    let origin = Origin::start("origin", "ok").await;
    let middle = Edge::start(
        "middle",
        &[],
        json!({"catch_all": origin.uri(), "max_hops": 1}),
    )
    .await;
    let edge = Edge::bound("edge", &[middle.uri()], "").await;
    let response = edge.query("/things").await;
    assert_eq!(response.status.code(), 508);
    assert_eq!(error_code(&response), "too-many-hops");
    assert_eq!(body(&response)["error"]["max_hops"], 1);
    assert!(origin
        .runtime
        .events()
        .iter()
        .all(|e| e["event"] != "request"));
}

#[tokio::test]
async fn a_redirect_at_the_edge_forwards_the_routed_path_not_the_one_asked() {
    let origin = Origin::start("origin", "ok").await;
    let edge = Edge::bound("edge", &[origin.uri()], "").await;
    let mut config: Config = edge_config(&edge.site, "edge", json!({}));
    config
        .policies
        .methods
        .redirects
        .insert("QUERY /old".into(), "QUERY /things".into());
    edge.server.daemon().reload(&config).unwrap();
    let response = edge.query("/old").await;
    assert_eq!(response.status.code(), 200, "{:?}", body(&response));
    let seen = origin.runtime.event(|e| e["event"] == "request").await;
    assert_eq!(seen["envelope"]["path"], "/things");
}

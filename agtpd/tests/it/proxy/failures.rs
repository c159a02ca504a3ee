//! mod-proxy when upstreams fail: a slow one (504 at the deadline), a dead one (502, and
//! fail-over with passive ejection), one that hangs up or speaks garbage, and when a
//! failed request is tried again elsewhere.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::proxy::{proxy_endpoint, uri, Edge, Origin};
use agtpd_harness::error_code;
use agtpd_harness::{body, query, Endpoint};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A loopback port nothing listens on.
async fn dead_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    uri(addr)
}

/// A server that reads each request's first bytes, writes `reply` and hangs up.
async fn broken_upstream(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(reply).await;
        }
    });
    addr
}

/// A listener whose accept queue is full, so a new connection never completes.
async fn full_listener() -> (TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..4 {
        let connecting = TcpStream::connect(addr);
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(200), connecting).await {
            queued.push(stream);
        }
    }
    (listener, queued)
}

fn status_and_code(response: &agtp_core::Response) -> (u16, String) {
    (response.status.code(), error_code(response))
}

#[tokio::test]
async fn a_slow_upstream_gets_504_upstream_timeout_at_the_deadline_and_the_next_request_works() {
    let origin = Origin::start("origin", "slow-ok").await;
    let edge = Edge::bound("edge", &[origin.uri()], "timeout = \"500ms\"").await;
    let mut client = edge.server.client().await;
    let started = Instant::now();
    let response = client
        .exchange(query("/things", r#"{"delay_ms": 3000}"#))
        .await;
    let took = started.elapsed();
    assert_eq!(status_and_code(&response), (504, "upstream-timeout".into()));
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    let fast = client
        .exchange(query("/things", r#"{"delay_ms": 0}"#))
        .await;
    assert_eq!(fast.status.code(), 200, "{:?}", body(&fast));
    let label = [("upstream", origin.uri()), ("reason", "timeout".to_owned())];
    let label: Vec<(&str, &str)> = label.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(edge.metric("proxy_upstream_failures_total", &label), 1);
}

#[tokio::test]
async fn an_upstream_that_never_completes_the_connection_gets_504_upstream_connect_timeout() {
    let (listener, _queued) = full_listener().await;
    let upstream = uri(listener.local_addr().unwrap());
    let edge = Edge::bound("edge", &[upstream], "connect_timeout = \"300ms\"").await;
    let started = Instant::now();
    let response = edge.query("/things").await;
    assert_eq!(
        status_and_code(&response),
        (504, "upstream-connect-timeout".into())
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn an_upstream_nothing_listens_on_gets_502_upstream_unreachable() {
    let edge = Edge::bound("edge", &[dead_port().await], "").await;
    let response = edge.query("/things").await;
    assert_eq!(
        status_and_code(&response),
        (502, "upstream-unreachable".into())
    );
    assert_eq!(body(&response)["error"]["attempts"], 1);
    assert!(
        !String::from_utf8_lossy(&response.body).contains("127.0.0.1"),
        "the upstream's address stays private"
    );
}

#[tokio::test]
async fn with_one_of_two_upstreams_dead_every_request_succeeds_and_the_dead_one_is_ejected() {
    let origin = Origin::start("origin", "ok").await;
    let dead = dead_port().await;
    let edge = Edge::bound("edge", &[dead.clone(), origin.uri()], "").await;
    let mut client = edge.server.client().await;
    for i in 0..20 {
        let response = client.exchange(query("/things", "{}")).await;
        assert_eq!(
            response.status.code(),
            200,
            "request {i}: {:?}",
            body(&response)
        );
    }
    // Default eject_after = 3: three attempts failed over, then the dead one was skipped.
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &dead)]),
        3
    );
    assert_eq!(
        edge.metric(
            "proxy_upstream_failures_total",
            &[("upstream", &dead), ("reason", "connect")]
        ),
        3
    );
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &origin.uri())]),
        20
    );
    assert_eq!(edge.metric("proxy_upstreams_ejected", &[]), 1);
}

#[tokio::test]
async fn an_ejected_upstream_is_tried_again_after_its_cool_down() {
    let origin = Origin::start("origin", "ok").await;
    let dead = dead_port().await;
    let handler = format!("upstreams = {}", json!([dead, origin.uri()]));
    let file = proxy_endpoint(&Endpoint::query("/things"), &handler);
    let table = json!({"eject_after": 1, "eject_for": "300ms"});
    let edge = Edge::start("edge", &[file], table).await;
    let mut client = edge.server.client().await;
    for _ in 0..4 {
        assert_eq!(
            client.exchange(query("/things", "{}")).await.status.code(),
            200
        );
    }
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &dead)]),
        1
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(edge.metric("proxy_upstreams_ejected", &[]), 0);
    for _ in 0..2 {
        assert_eq!(
            client.exchange(query("/things", "{}")).await.status.code(),
            200
        );
    }
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &dead)]),
        2
    );
    assert_eq!(edge.metric("proxy_upstreams_ejected", &[]), 1);
}

#[tokio::test]
async fn a_hang_up_after_the_request_is_retried_elsewhere_only_for_an_idempotent_endpoint() {
    let origin = Origin::start("origin", "ok").await;
    let closer = uri(broken_upstream(b"").await);
    let upstreams = json!([closer, origin.uri()]);
    let idempotent = proxy_endpoint(
        &Endpoint::query("/things"),
        &format!("upstreams = {upstreams}"),
    );
    let not_idempotent = proxy_endpoint(
        &Endpoint {
            idempotent: false,
            ..Endpoint::query("/once")
        },
        &format!("upstreams = {upstreams}"),
    );
    let edge = Edge::start("edge", &[idempotent, not_idempotent], json!({})).await;
    let mut client = edge.server.client().await;
    // Round-robin starts each endpoint's list at the hanging-up upstream.
    let once = client.exchange(query("/once", "{}")).await;
    assert_eq!(status_and_code(&once), (502, "upstream-closed".into()));
    assert_eq!(body(&once)["error"]["attempts"], 1);
    let retried = client.exchange(query("/things", "{}")).await;
    assert_eq!(retried.status.code(), 200, "{:?}", body(&retried));
    assert_eq!(
        edge.metric("proxy_requests_total", &[("upstream", &closer)]),
        2
    );
}

#[tokio::test]
async fn an_upstream_that_does_not_speak_agtp_gets_502_upstream_bad_response() {
    let garbage = broken_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let edge = Edge::bound("edge", &[uri(garbage)], "").await;
    let response = edge.query("/things").await;
    assert_eq!(
        status_and_code(&response),
        (502, "upstream-bad-response".into())
    );
}

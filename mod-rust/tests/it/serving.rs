//! Serving requests: encodings, replies, failures that keep the connection, concurrency.

use mod_rust::protocol::{ErrorCode, ErrorFrame, Frame, ResponseEnvelope};
use mod_rust::Encoding;
use serde_json::json;

use crate::support::app::{self, Running};
use crate::support::{FakeDaemon, Peer};

async fn served(daemon: &FakeDaemon) -> (Running, Peer) {
    let running = Running::start(app::booking(daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    (running, peer)
}

#[tokio::test]
async fn messagepack_is_the_default_encoding_and_json_is_spoken_on_request() {
    let daemon = FakeDaemon::start();
    let (running, peer) = served(&daemon).await;
    assert_eq!(peer.encoding(), Some(Encoding::MessagePack));
    running.stop_serving(peer).await.unwrap();

    let running = Running::start(app::booking(&daemon).encoding(Encoding::Json));
    let mut peer = daemon.accept().await;
    peer.open().await;
    assert_eq!(peer.encoding(), Some(Encoding::Json));
    let answer = peer
        .call("CANCEL", "/bookings/b-1", json!({ "booking_id": "b-1" }))
        .await;
    assert!(matches!(answer, Frame::Response(_)), "{answer:?}");
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_reply_carries_its_status_headers_and_what_the_context_saw() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = served(&daemon).await;
    let answer = peer.call("FETCH", "/bookings/b%2D9", json!({})).await;
    let Frame::Response(res) = answer else {
        panic!("expected a response, got {answer:?}");
    };
    let ResponseEnvelope::Reply(reply) = res.envelope else {
        panic!("expected a reply");
    };
    assert_eq!(reply.status, 203);
    assert_eq!(
        reply.headers.get("x-cache").map(String::as_str),
        Some("miss")
    );
    let expected = json!({
        "path": "/bookings/b%2D9",
        "endpoint": "/bookings/{booking_id}",
        "principal": "alice",
        "session": "s-1",
        "scopes": ["booking:write"],
        "trace": "00-abc",
    });
    assert_eq!(reply.body, expected);
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_panic_becomes_handler_exception_and_the_connection_keeps_serving() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = served(&daemon).await;
    let answer = peer
        .call(
            "CANCEL",
            "/bookings/panic",
            json!({ "booking_id": "panic" }),
        )
        .await;
    let Frame::Error(err) = answer else {
        panic!("expected an error frame, got {answer:?}");
    };
    assert_eq!(err.code, ErrorCode::HandlerException);
    assert_eq!(err.message, "the handler panicked: cancel exploded");
    let again = peer
        .call("BOOK", "/rooms/1", json!({ "room_id": "1", "guest": "x" }))
        .await;
    assert!(matches!(again, Frame::Response(_)), "{again:?}");
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn an_input_that_does_not_deserialise_is_a_handler_exception_naming_the_type() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = served(&daemon).await;
    let answer = peer.call("BOOK", "/rooms/5", json!({ "room_id": 5 })).await;
    let Frame::Error(err) = answer else {
        panic!("expected an error frame, got {answer:?}");
    };
    assert_eq!(err.code, ErrorCode::HandlerException);
    assert!(err.message.contains("BookInput"), "{}", err.message);
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_ping_during_a_request_is_answered_before_the_response() {
    let daemon = FakeDaemon::start();
    let (app, gate) = app::gated(app::booking(&daemon));
    let running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    let id = peer.send_request("WAIT", "/gate", json!({})).await;
    peer.ping("busy").await;
    gate.open();
    let answer = peer.recv().await;
    assert_eq!(crate::support::answered_id(&answer), Some(id.as_str()));
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn an_error_about_an_answered_request_leaves_the_connection_serving() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = served(&daemon).await;
    let answer = peer
        .call("CANCEL", "/bookings/b-1", json!({ "booking_id": "b-1" }))
        .await;
    peer.send(Frame::Error(ErrorFrame {
        request_id: crate::support::answered_id(&answer).map(str::to_owned),
        code: ErrorCode::OutputSchemaFailure,
        message: "`cancelled` must be a string".into(),
        details: None,
    }))
    .await;
    peer.ping("still-there").await;
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_frame_the_phase_does_not_allow_is_answered_with_phase_violation_and_a_close() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = served(&daemon).await;
    let hello = Frame::Register(crate::support::register(app::endpoints()));
    peer.send(hello).await;
    let Frame::Error(err) = peer.recv().await else {
        panic!("expected an error frame");
    };
    assert_eq!(err.code, ErrorCode::PhaseViolation);
    assert_eq!(err.request_id, None);
    peer.expect_eof().await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn every_configured_connection_registers_and_serves_at_the_same_time() {
    let daemon = FakeDaemon::start();
    let (app, gate) = app::gated(app::booking(&daemon).connections(3));
    let running = Running::start(app);
    let mut peers = Vec::new();
    for _ in 0..3 {
        let mut peer = daemon.accept().await;
        peer.open_with(app::gated_endpoints()).await;
        peers.push(peer);
    }
    // Three calls in flight at once, one per connection.
    for peer in &mut peers {
        peer.send_request("WAIT", "/gate", json!({})).await;
    }
    for _ in 0..3 {
        gate.open();
    }
    for peer in &mut peers {
        assert!(matches!(peer.recv().await, Frame::Response(_)));
    }
    let mut running = running;
    running.signal_stop();
    for mut peer in peers {
        assert!(matches!(peer.recv().await, Frame::Goodbye(_)));
    }
    running.finished().await.unwrap();
}

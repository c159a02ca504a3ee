//! The eight conformance vectors of the gateway protocol, in order: handshake, registration,
//! a normal request, a declared error, an exception, ping, reconnecting after the daemon
//! closes, and refusing an unresolvable registration.

use mod_rust::protocol::{ErrorCode, Frame, ResponseEnvelope};
use mod_rust::Error;
use serde_json::json;

use crate::support::app::{self, Running};
use crate::support::{endpoint, FakeDaemon};

#[tokio::test]
async fn the_handshake_offers_version_1_0_the_module_and_its_capabilities() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon).pool("rooms"));
    let mut peer = daemon.accept().await;
    let hello = peer.handshake(false).await;
    assert_eq!(hello.gateway_versions, ["1.0"]);
    assert_eq!(hello.module.id, "booking");
    assert_eq!(hello.module.version, "1.2.3");
    assert_eq!(hello.module.pool.as_deref(), Some("rooms"));
    assert_eq!(hello.module.pid, Some(u64::from(std::process::id())));
    assert_eq!(hello.capabilities, ["registered_function", "sign_request"]);
    assert_eq!(
        hello.cached_manifest_hash, None,
        "a fresh cache has nothing to resume"
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_registration_of_three_endpoints_is_acknowledged_with_every_key() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.handshake(false).await;
    let ack = peer.register(app::endpoints()).await;
    assert!(ack.ok);
    assert_eq!(
        ack.resolved,
        [
            "FETCH /bookings/{booking_id}",
            "BOOK /rooms/{room_id}",
            "CANCEL /bookings/{booking_id}"
        ]
    );
    assert!(ack.errors.is_empty());
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_normal_request_is_answered_with_the_handlers_body() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    let input = json!({ "room_id": "42", "guest": "ada" });
    let Frame::Response(res) = peer.call("BOOK", "/rooms/42", input).await else {
        panic!("expected a response");
    };
    let ResponseEnvelope::Reply(reply) = res.envelope else {
        panic!("expected a reply");
    };
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({ "booking_id": "b-42", "guest": "ada", "agent": "agent-7", "room_param": "42" })
    );
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_declared_error_becomes_an_endpoint_error_with_its_details() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    let input = json!({ "room_id": "13", "guest": "ada" });
    let Frame::Response(res) = peer.call("BOOK", "/rooms/13", input).await else {
        panic!("expected a response");
    };
    let ResponseEnvelope::EndpointError(err) = res.envelope else {
        panic!("expected an endpoint_error");
    };
    assert_eq!(err.code, "room_unavailable");
    assert_eq!(err.message, "room 13 is never free");
    assert_eq!(err.details, Some(json!({ "room_id": "13" })));
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn an_undeclared_error_becomes_handler_exception_and_the_connection_serves_on() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    let answer = peer
        .call("CANCEL", "/bookings/boom", json!({ "booking_id": "boom" }))
        .await;
    let Frame::Error(err) = answer else {
        panic!("expected an error frame, got {answer:?}");
    };
    assert_eq!(err.code, ErrorCode::HandlerException);
    assert_eq!(err.message, "the disk is on fire");
    let again = peer
        .call("CANCEL", "/bookings/b-1", json!({ "booking_id": "b-1" }))
        .await;
    assert!(matches!(again, Frame::Response(_)), "{again:?}");
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_carrying_its_nonce() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    peer.ping("p-1234").await;
    peer.ping("p-1235").await;
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_runtime_reconnects_after_the_daemon_closes_and_resumes_its_registration() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    let started = tokio::time::Instant::now();
    drop(peer);

    let mut peer = daemon.accept().await;
    assert_eq!(
        started.elapsed().as_secs(),
        1,
        "one backoff step after a registration"
    );
    let hello = peer.handshake(false).await;
    let hash = crate::support::register(app::endpoints()).manifest_hash;
    assert_eq!(hello.cached_manifest_hash, Some(hash));
    peer.register(app::endpoints()).await;
    peer.ping("after-reconnect").await;
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn an_endpoint_without_a_handler_is_refused_and_serve_fails() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.handshake(false).await;
    let mut endpoints = app::endpoints();
    endpoints.push(endpoint("REFUND", "/bookings/{booking_id}", &[]));
    let ack = peer.register(endpoints).await;
    assert!(!ack.ok);
    assert!(ack.resolved.is_empty());
    assert_eq!(ack.errors.len(), 1);
    assert_eq!(ack.errors[0].endpoint, "REFUND /bookings/{booking_id}");
    assert_eq!(ack.errors[0].reason, "handler_not_found");
    let detail = ack.errors[0].detail.as_deref().unwrap();
    assert!(detail.contains("booking::refund"), "{detail}");
    peer.expect_eof().await;

    let err = running.finished().await.unwrap_err();
    let Error::RegistrationRefused { failures } = &err else {
        panic!("expected RegistrationRefused, got {err:?}");
    };
    assert_eq!(failures, &ack.errors);
    assert_eq!(
        err.to_string(),
        "registration refused: no handler for REFUND /bookings/{booking_id}"
    );
}

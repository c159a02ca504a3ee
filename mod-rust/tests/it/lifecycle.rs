//! Connecting, reconnecting and stopping: backoff, graceful stop, the daemon's goodbye,
//! deadlines, and the errors that end `serve`.

use std::time::Duration;

use mod_rust::protocol::{ErrorCode, ErrorFrame, Frame, Goodbye, GoodbyeReason};
use mod_rust::Error;
use serde_json::json;
use tokio::time::Instant;

use crate::support::app::{self, Running};
use crate::support::{answered_id, FakeDaemon};

#[tokio::test(start_paused = true)]
async fn reconnects_back_off_from_one_second_to_thirty_and_reset_after_a_registration() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut attempts = Vec::new();
    for _ in 0..7 {
        drop(daemon.accept().await); // closed before the handshake: a failed attempt
        attempts.push(Instant::now());
    }
    let mut peer = daemon.accept().await;
    attempts.push(Instant::now());
    peer.open().await;
    drop(peer);
    let peer = daemon.accept().await;
    attempts.push(Instant::now());

    let gaps: Vec<u64> = attempts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [1, 2, 4, 8, 16, 30, 30, 1]);
    drop(peer);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_graceful_stop_says_goodbye_then_finishes_the_request_in_flight_and_returns_ok() {
    let daemon = FakeDaemon::start();
    let (app, gate) = app::gated(app::booking(&daemon));
    let mut running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    let id = peer.send_request("WAIT", "/gate", json!({})).await;
    running.signal_stop();

    let goodbye = peer.recv().await;
    let expected = Goodbye {
        reason: Some(GoodbyeReason::Shutdown),
    };
    assert_eq!(goodbye, Frame::Goodbye(expected), "goodbye comes first");
    gate.open();
    let answer = peer.recv().await;
    assert!(matches!(answer, Frame::Response(_)), "{answer:?}");
    assert_eq!(answered_id(&answer), Some(id.as_str()));
    drop(peer);
    running.finished().await.unwrap();
    assert!(!gate.aborted());
}

#[tokio::test(start_paused = true)]
async fn a_graceful_stop_does_not_wait_forever_for_a_daemon_that_never_closes() {
    let daemon = FakeDaemon::start();
    let mut running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    running.signal_stop();
    assert!(matches!(peer.recv().await, Frame::Goodbye(_)));
    let asked = Instant::now();
    running.finished().await.unwrap();
    assert_eq!(asked.elapsed(), Duration::from_secs(5));
    drop(peer);
}

#[tokio::test(start_paused = true)]
async fn a_manifest_reload_goodbye_finishes_the_request_then_reconnects_at_once() {
    let daemon = FakeDaemon::start();
    let (app, gate) = app::gated(app::booking(&daemon));
    let running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    peer.send_request("WAIT", "/gate", json!({})).await;
    let reload = Goodbye {
        reason: Some(GoodbyeReason::ManifestReload),
    };
    peer.send(Frame::Goodbye(reload.clone())).await;
    gate.open();
    assert!(matches!(peer.recv().await, Frame::Response(_)));
    assert_eq!(peer.recv().await, Frame::Goodbye(reload));
    peer.expect_eof().await;

    let closed = Instant::now();
    let mut peer = daemon.accept().await;
    assert_eq!(closed.elapsed(), Duration::ZERO);
    assert!(peer.handshake(false).await.cached_manifest_hash.is_some());
    peer.register(app::endpoints()).await;
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_shutdown_goodbye_from_the_daemon_ends_serve_with_ok() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    let shutdown = Goodbye {
        reason: Some(GoodbyeReason::Shutdown),
    };
    peer.send(Frame::Goodbye(shutdown.clone())).await;
    assert_eq!(peer.recv().await, Frame::Goodbye(shutdown));
    peer.expect_eof().await;
    running.finished().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_runtime_told_to_outlive_the_daemon_reconnects_a_second_after_its_shutdown() {
    let daemon = FakeDaemon::start();
    let app = app::booking(&daemon).reconnect_on_daemon_shutdown(true);
    let running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open().await;
    let shutdown = Goodbye {
        reason: Some(GoodbyeReason::Shutdown),
    };
    peer.send(Frame::Goodbye(shutdown)).await;
    assert!(matches!(peer.recv().await, Frame::Goodbye(_)));
    drop(peer);
    let closed = Instant::now();
    let mut peer = daemon.accept().await;
    assert_eq!(closed.elapsed(), Duration::from_secs(1), "one backoff step");
    peer.open().await;
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_handler_past_its_deadline_is_aborted_and_a_silent_daemon_is_closed_on_after_a_grace() {
    let daemon = FakeDaemon::start();
    let (app, gate) = app::gated(app::booking(&daemon));
    let running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    let mut request = crate::support::request("r-1", "WAIT", "/gate", json!({}));
    request.deadline_ms = Some(2_000);
    peer.send(Frame::Request(request)).await;
    let sent = Instant::now();
    // Closing is the daemon's move (PROTOCOL.md 8.4): the runtime aborts the handler at the
    // deadline and closes only after a grace in which the daemon said nothing.
    peer.expect_eof().await;
    assert_eq!(sent.elapsed(), Duration::from_secs(7));
    gate.wait_aborted().await;

    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_handler_timeout_from_the_daemon_aborts_the_handler_and_closes() {
    let daemon = FakeDaemon::start();
    let (app, gate) = app::gated(app::booking(&daemon));
    let running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    let id = peer.send_request("WAIT", "/gate", json!({})).await;
    peer.send(Frame::Error(ErrorFrame {
        request_id: Some(id),
        code: ErrorCode::HandlerTimeout,
        message: "deadline passed".into(),
        details: None,
    }))
    .await;
    peer.expect_eof().await;
    gate.wait_aborted().await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_daemon_refusing_every_version_ends_serve_with_an_error() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    assert!(matches!(peer.recv().await, Frame::Hello(_)));
    peer.send(Frame::Error(ErrorFrame {
        request_id: None,
        code: ErrorCode::GatewayVersionUnsupported,
        message: "this daemon speaks 2.0".into(),
        details: None,
    }))
    .await;
    let err = running.finished().await.unwrap_err();
    assert!(matches!(err, Error::VersionUnsupported { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_no_daemon_listens_returns_at_once() {
    let daemon = FakeDaemon::start();
    let app = app::booking(&daemon).gateway_socket(daemon.dir().join("nobody.sock"));
    let running = Running::start(app);
    tokio::time::sleep(Duration::from_secs(45)).await; // a few failed attempts
    running.stop().await.unwrap();
}

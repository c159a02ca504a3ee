//! The manifest cache and `register_resume` (PROTOCOL.md §7.3).

use mod_rust::protocol::{Frame, RegisterResume};
use serde_json::json;

use crate::support::app::{self, Running};
use crate::support::{endpoint, register, FakeDaemon};

#[tokio::test]
async fn a_restarted_runtime_offers_its_cached_hash_and_serves_after_register_resume() {
    let daemon = FakeDaemon::start();
    let hash = register(app::endpoints()).manifest_hash;

    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    running.stop_serving(peer).await.unwrap();
    let cached = std::fs::read_to_string(daemon.dir().join("manifest.json")).unwrap();
    assert!(cached.contains(&hash), "{cached}");

    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    let hello = peer.handshake(false).await;
    assert_eq!(hello.cached_manifest_hash.as_deref(), Some(hash.as_str()));
    peer.send(Frame::RegisterResume(RegisterResume {
        manifest_hash: hash,
    }))
    .await;
    let Frame::RegisterAck(ack) = peer.recv().await else {
        panic!("expected register_ack");
    };
    assert!(ack.ok);
    assert_eq!(ack.resolved.len(), 3);
    let input = json!({ "room_id": "7", "guest": "bo" });
    let answer = peer.call("BOOK", "/rooms/7", input).await;
    assert!(matches!(answer, Frame::Response(_)), "{answer:?}");
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_resume_for_a_hash_the_runtime_does_not_hold_drops_the_cache_and_reconnects() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.handshake(false).await;
    peer.send(Frame::RegisterResume(RegisterResume {
        manifest_hash: format!("sha256:{}", "0".repeat(64)),
    }))
    .await;
    peer.expect_eof().await;

    let mut peer = daemon.accept().await;
    let hello = peer.handshake(false).await;
    assert_eq!(hello.cached_manifest_hash, None);
    assert!(peer.register(app::endpoints()).await.ok);
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_full_register_replaces_the_cached_set_even_with_fewer_endpoints_than_handlers() {
    let daemon = FakeDaemon::start();
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    peer.open().await;
    running.stop_serving(peer).await.unwrap();

    let smaller = vec![endpoint("FETCH", "/bookings/{booking_id}", &[])];
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    let hello = peer.handshake(false).await;
    assert!(hello.cached_manifest_hash.is_some());
    let ack = peer.register(smaller.clone()).await;
    assert_eq!(ack.resolved, ["FETCH /bookings/{booking_id}"]);
    let answer = peer
        .call("BOOK", "/rooms/1", json!({ "room_id": "1", "guest": "x" }))
        .await;
    let Frame::Error(err) = answer else {
        panic!("an endpoint outside the registration is not served: {answer:?}");
    };
    assert!(err.message.contains("no bound endpoint"), "{}", err.message);
    running.stop_serving(peer).await.unwrap();

    let cached = std::fs::read_to_string(daemon.dir().join("manifest.json")).unwrap();
    assert!(cached.contains(&register(smaller).manifest_hash));
}

#[tokio::test]
async fn a_cached_set_naming_a_handler_the_program_lost_is_not_offered() {
    let daemon = FakeDaemon::start();
    let (app, _gate) = app::gated(app::booking(&daemon));
    let running = Running::start(app);
    let mut peer = daemon.accept().await;
    peer.open_with(app::gated_endpoints()).await;
    running.stop_serving(peer).await.unwrap();

    // The same program without `WAIT /gate`: its cache would resume a set it cannot serve.
    let running = Running::start(app::booking(&daemon));
    let mut peer = daemon.accept().await;
    let hello = peer.handshake(false).await;
    assert_eq!(hello.cached_manifest_hash, None);
    peer.register(app::endpoints()).await;
    running.stop_serving(peer).await.unwrap();
}

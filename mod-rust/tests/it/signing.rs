//! `Context::sign` (PROTOCOL.md §9): through the daemon when granted, refused locally when not.

use mod_rust::protocol::{Frame, SignError, SignErrorCode, SignResponse};
use mod_rust::{Context, Json};
use serde_json::{json, Value};

use crate::support::app::{self, Running};
use crate::support::{endpoint, FakeDaemon, Peer};

async fn sign(ctx: Context) -> Json<Value> {
    match ctx.sign(b"hello").await {
        Ok(sig) => Json(json!({ "kid": sig.kid, "alg": sig.alg, "first": sig.signature[0] })),
        Err(err) => Json(json!({ "error": err.to_string(), "could": ctx.can_sign() })),
    }
}

async fn signing_runtime(daemon: &FakeDaemon, grant: bool) -> (Running, Peer) {
    let running = Running::start(app::booking(daemon).handler("SIGN", "/signatures", sign));
    let mut peer = daemon.accept().await;
    peer.handshake(grant).await;
    let ack = peer
        .register(vec![endpoint("SIGN", "/signatures", &[])])
        .await;
    assert!(ack.ok);
    (running, peer)
}

fn body(frame: Frame) -> Value {
    match frame {
        Frame::Response(res) => match res.envelope {
            mod_rust::protocol::ResponseEnvelope::Reply(reply) => reply.body,
            other => panic!("expected a reply, got {other:?}"),
        },
        other => panic!("expected a response, got {other:?}"),
    }
}

#[tokio::test]
async fn a_granted_signing_capability_signs_through_the_daemon() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = signing_runtime(&daemon, true).await;
    peer.send_request("SIGN", "/signatures", json!({})).await;
    let Frame::SignRequest(req) = peer.recv().await else {
        panic!("expected sign_request");
    };
    assert_eq!(req.data_b64, "aGVsbG8");
    let signature_b64 = base64_of_64_sevens();
    peer.send(Frame::SignResponse(SignResponse {
        operation_id: req.operation_id,
        kid: "k1".into(),
        alg: "Ed25519".into(),
        signature_b64,
    }))
    .await;
    let answer = body(peer.recv().await);
    assert_eq!(answer, json!({ "kid": "k1", "alg": "Ed25519", "first": 7 }));
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn a_sign_error_from_the_daemon_reaches_the_handler() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = signing_runtime(&daemon, true).await;
    peer.send_request("SIGN", "/signatures", json!({})).await;
    let Frame::SignRequest(req) = peer.recv().await else {
        panic!("expected sign_request");
    };
    peer.send(Frame::SignError(SignError {
        operation_id: req.operation_id,
        code: SignErrorCode::SignFailure,
        message: "hsm offline".into(),
    }))
    .await;
    let answer = body(peer.recv().await);
    assert_eq!(answer["error"], "signing failed: hsm offline");
    running.stop_serving(peer).await.unwrap();
}

#[tokio::test]
async fn without_the_capability_sign_fails_at_once_and_sends_nothing() {
    let daemon = FakeDaemon::start();
    let (running, mut peer) = signing_runtime(&daemon, false).await;
    peer.send_request("SIGN", "/signatures", json!({})).await;
    let answer = body(peer.recv().await);
    assert_eq!(answer["could"], false);
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("signing unavailable"), "{error}");
    running.stop_serving(peer).await.unwrap();
}

/// 64 bytes of 7, base64url without padding, written out so the test does not reuse the
/// SDK's encoder.
fn base64_of_64_sevens() -> String {
    // 0x07 0x07 0x07 → "BwcH"; 63 bytes are 21 such groups, the 64th byte is "Bw".
    format!("{}Bw", "BwcH".repeat(21))
}

//! The module as agtpd sees it: the factory, what a record says, attribution headers,
//! fsync policies, checkpoints.

use std::sync::Arc;

use crate::common::*;
use agtp_core::module::{BuildContext, Cx, ModuleFactory, Signer};
use ed25519_dalek::pkcs8::EncodePublicKey;
use mod_audit::{load_public_key, verify, verify_attribution_record, FsyncPolicy, FACTORY};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn build_cx(with_signer: bool) -> BuildContext {
    BuildContext {
        server_id: "srv-test".into(),
        signer: with_signer.then(|| signer() as Arc<dyn Signer>),
    }
}

#[tokio::test]
async fn the_factory_builds_from_a_path_alone_and_refuses_to_run_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let table = json!({"path": dir.path().join("audit.log")});
    assert_eq!(FACTORY.name(), "audit");
    let module = FACTORY.build(&table, &build_cx(true)).unwrap();
    assert_eq!(module.name(), "audit");
    let err = FACTORY.build(&table, &build_cx(false)).err().unwrap();
    assert!(err.to_string().contains("`[signing] key_file`"), "{err}");
    let bad = json!({"path": "x", "fsync": "sometimes"});
    let err = FACTORY.build(&bad, &build_cx(true)).err().unwrap();
    assert!(err.to_string().starts_with("module `audit`: "), "{err}");
    let unknown = json!({"path": "x", "rotate": true});
    assert!(FACTORY.build(&unknown, &build_cx(true)).is_err());
}

#[tokio::test]
async fn the_status_actually_sent_is_recorded_with_its_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path()).path;
    let module = open(config(dir.path()));
    let mut cx = Cx::default();
    cx.agent_id = Some("agent-resolved".into());
    cx.principal_id = Some("chris@example.com".into());
    // The handler answered 200, but output validation replaced it with a 500.
    let req = request("BOOK", "/rooms/1", "agent-header", r#"{"guest":"x"}"#);
    let sent = response(500, r#"{"error":{"code":"output-invalid","message":"m"}}"#);
    exchange(&module, Some(&req), &sent, &cx).await;
    drop(module);
    let record = parse(&lines(&path)[0]);
    assert_eq!(record["status"], 500);
    assert_eq!(record["error_code"], "output-invalid");
    assert_eq!(record["method"], "BOOK");
    assert_eq!(record["path"], "/rooms/1");
    assert_eq!(record["agent"], "agent-resolved");
    assert_eq!(record["principal"], "chris@example.com");
    assert_eq!(record["request_id"], "req-/rooms/1");
    assert_eq!(record["task_id"], "task-1");
    assert_eq!(record["response_id"], "resp-0123456789ab");
    assert_eq!(record["duration_us"], 12_000);
    let digest = hex(&Sha256::digest(br#"{"guest":"x"}"#));
    assert_eq!(record["input_sha256"], digest.as_str());
    assert!(record.get("input_body").is_none(), "bodies only on request");
    assert!(record["ts"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn an_unparseable_request_is_recorded_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path()).path;
    let module = open(config(dir.path()));
    let sent = response(400, r#"{"error":{"code":"bad-request"}}"#);
    exchange(&module, None, &sent, &Cx::default()).await;
    drop(module);
    let record = parse(&lines(&path)[0]);
    assert_eq!(record["unparsed"], true);
    assert_eq!(record["status"], 400);
    assert_eq!(record["error_code"], "bad-request");
    assert!(record.get("method").is_none() && record.get("input_sha256").is_none());
    assert!(verify(&[path], &public_key()).is_ok());
}

#[tokio::test]
async fn bodies_are_written_only_with_include_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.include_bodies = true;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 1).await;
    drop(module);
    let record = parse(&lines(&path)[0]);
    assert_eq!(record["input_body"], r#"{"guest":"x"}"#);
    assert_eq!(record["output_body"], r#"{"ok":true}"#);
}

#[tokio::test]
async fn attribution_records_verify_with_the_public_key_and_chain_per_agent() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.attribution_headers = true;
    let path = c.path.clone();
    let module = open(c);
    let req = request("BOOK", "/rooms/1", "agent-a", "{}");
    let first = exchange(&module, Some(&req), &response(200, "{}"), &Cx::default()).await;
    let second = exchange(&module, Some(&req), &response(200, "{}"), &Cx::default()).await;
    drop(module);

    let jws = first.get("Attribution-Record").unwrap();
    let (header, payload) = independent_jws_check(jws);
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "typ": "JWT", "kid": "test-key"})
    );
    assert_eq!(payload["server_id"], "srv-test");
    assert_eq!(payload["agent_id"], "agent-a");
    assert_eq!(payload["status"], 200);
    assert_eq!(payload["response_id"], "resp-0123456789ab");
    assert!(payload.get("previous_audit_id").is_none());
    let audit_id = first.get("Audit-ID").unwrap();
    assert_eq!(audit_id, hex(&Sha256::digest(jws.as_bytes())));
    assert_eq!(
        verify_attribution_record(jws, &public_key()).unwrap(),
        payload
    );

    let second_payload = independent_jws_check(second.get("Attribution-Record").unwrap()).1;
    assert_eq!(second_payload["previous_audit_id"], audit_id);
    let record = parse(&lines(&path)[0]);
    assert_eq!(record["audit_id"], audit_id);
    assert_eq!(record["attribution"], jws);

    // An unsecured record is refused.
    let mut parts = jws.split('.');
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let forged = format!(
        "{}.{}.",
        b64(&json!({"alg": "none"})),
        parts.nth(1).unwrap()
    );
    assert!(verify_attribution_record(&forged, &public_key()).is_err());
}

/// Checks a JWS with ed25519-dalek directly; returns its header and payload.
fn independent_jws_check(jws: &str) -> (Value, Value) {
    use base64::Engine as _;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    let sig = b64.decode(parts[2]).expect("base64url signature");
    let sig: [u8; 64] = sig.try_into().expect("64 bytes");
    let key = VerifyingKey::from_bytes(&public_key()).expect("valid key");
    let input = format!("{}.{}", parts[0], parts[1]);
    key.verify(input.as_bytes(), &Signature::from_bytes(&sig))
        .expect("the jws verifies");
    let json = |s: &str| {
        let bytes = b64.decode(s).expect("base64url segment");
        serde_json::from_slice::<Value>(&bytes).expect("json segment")
    };
    (json(parts[0]), json(parts[1]))
}

#[tokio::test]
async fn every_fsync_policy_writes_a_verifiable_log() {
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval,
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.fsync = policy;
        let path = c.path.clone();
        let module = open(c);
        ok_exchanges(&module, 5).await;
        module.flush().await;
        assert_eq!(module.n_written(), 5, "{policy:?}");
        drop(module);
        assert_eq!(verify(&[path], &public_key()).unwrap().n_records, 5);
    }
}

#[tokio::test]
async fn a_checkpoint_interval_seals_a_quiet_log_without_waiting_for_more_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.checkpoint_interval = Some(std::time::Duration::from_millis(50));
    // Both records are handed over at once: with `always` each exchange would wait for
    // its sync, and a tick could fall between the two.
    c.fsync = FsyncPolicy::Interval;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    module.flush().await;
    let l = lines(&path);
    assert_eq!(l.len(), 3, "one periodic checkpoint, none while idle");
    assert_eq!(parse(&l[2])["reason"], "periodic");
    drop(module);
}

#[tokio::test]
async fn checkpoints_carry_the_rfc_9162_root_over_every_entry_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 7, 3).await;
    let l = lines(&path);
    let hashes: Vec<[u8; 32]> = l.iter().map(|x| entry_hash(x)).collect();
    let mut n_checkpoints = 0;
    for (i, line) in l.iter().enumerate() {
        let entry = parse(line);
        assert_eq!(entry["seq"], i);
        let prev = if i == 0 { [0; 32] } else { hashes[i - 1] };
        assert_eq!(entry["prev"], hex(&prev));
        if entry["kind"] == "checkpoint" {
            n_checkpoints += 1;
            assert_eq!(entry["tree_size"], i);
            assert_eq!(entry["root"], hex(&mth(&hashes[..i])));
        }
    }
    // after records 3 and 6, then the shutdown checkpoint
    assert_eq!(n_checkpoints, 3);
    assert_eq!(first_line_of_kind(&l, "checkpoint"), 4);
    assert_eq!(parse(l.last().unwrap())["reason"], "shutdown");
}

/// RFC 9162 §2.1.1 Merkle Tree Hash, written independently of the crate.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    let h = |parts: &[&[u8]]| -> [u8; 32] {
        let mut d = Sha256::new();
        parts.iter().for_each(|p| d.update(p));
        d.finalize().into()
    };
    match leaves.len() {
        0 => h(&[]),
        1 => h(&[&[0u8], &leaves[0]]),
        n => {
            let k = (1..n)
                .map(|p| 1 << p)
                .take_while(|&p| p < n)
                .last()
                .unwrap_or(1);
            h(&[&[1u8], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

#[test]
fn public_keys_load_from_pem_or_hex() {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key()).unwrap();
    let pem = dir.path().join("key.pem");
    std::fs::write(&pem, key.to_public_key_pem(Default::default()).unwrap()).unwrap();
    assert_eq!(load_public_key(&pem).unwrap(), public_key());
    let raw = dir.path().join("key.hex");
    std::fs::write(&raw, format!("{}\n", hex(&public_key()))).unwrap();
    assert_eq!(load_public_key(&raw).unwrap(), public_key());
    std::fs::write(&raw, "not a key").unwrap();
    assert!(load_public_key(&raw).is_err());
}

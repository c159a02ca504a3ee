//! `sign_request` (PROTOCOL.md §9) and `agtpd keygen`: the daemon signs with its key when
//! it has one and the runtime claimed the capability; the private key stays in the daemon.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use agtpd::config::Config;
use agtpd::signing::SigningConfig;
use agtpd_harness::{body, query, ready, Endpoint, Site};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use tempfile::TempDir;

fn keygen(dir: &TempDir) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agtpd"))
        .args(["keygen", "--out"])
        .arg(dir.path())
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let dir = TempDir::new().unwrap();
    let output = keygen(&dir);
    assert_eq!(output.status.code(), Some(0));
    let private = dir.path().join("signing.key");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = std::fs::read_to_string(&private).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let public = std::fs::read_to_string(dir.path().join("signing.pub")).unwrap();
    VerifyingKey::from_public_key_pem(&public).unwrap();
    let again = keygen(&dir);
    assert_eq!(again.status.code(), Some(73));
    assert_eq!(std::fs::read_to_string(&private).unwrap(), pem, "untouched");
}

#[tokio::test]
async fn a_runtime_that_claims_sign_request_gets_signatures_from_the_daemon_key() {
    let keys = TempDir::new().unwrap();
    let key = agtpd::signing::keygen(keys.path()).unwrap();
    let site = Site::new(&[Endpoint::query("/things")]);
    let config = Config {
        signing: SigningConfig {
            key_file: Some(key.private_key.clone()),
            key_id: None,
        },
        ..site.config()
    };
    let server = site.serve(config).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let welcome = runtime.event(|e| e["event"] == "welcome").await;
    assert_eq!(
        welcome["capabilities"],
        serde_json::json!(["registered_function", "sign_request"])
    );
    let input = r#"{"mode": "sign", "data": "pay 10 to bob"}"#;
    let response = server
        .client()
        .await
        .exchange(query("/things", input))
        .await;
    let signed = &body(&response)["echoed"];
    assert_eq!(signed["type"], "sign_response", "{signed}");
    assert_eq!(signed["alg"], "Ed25519");
    assert_eq!(signed["kid"], key.kid.as_str());
    let bytes = URL_SAFE_NO_PAD
        .decode(signed["signature_b64"].as_str().unwrap())
        .unwrap();
    let signature = Signature::from_slice(&bytes).unwrap();
    let public = std::fs::read_to_string(&key.public_key).unwrap();
    let public = VerifyingKey::from_public_key_pem(&public).unwrap();
    public.verify(b"pay 10 to bob", &signature).unwrap();
}

#[tokio::test]
async fn without_a_key_the_capability_is_not_granted_and_signing_is_unavailable() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let welcome = runtime.event(|e| e["event"] == "welcome").await;
    assert_eq!(
        welcome["capabilities"],
        serde_json::json!(["registered_function"])
    );
    let input = r#"{"mode": "sign", "data": "x"}"#;
    let response = server
        .client()
        .await
        .exchange(query("/things", input))
        .await;
    let answer = &body(&response)["echoed"];
    assert_eq!(answer["type"], "sign_error");
    assert_eq!(answer["code"], "signing_unavailable");
}

#[test]
fn a_key_file_that_is_not_an_ed25519_pkcs8_key_is_a_configuration_error() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("bad.key");
    std::fs::write(
        &path,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let config = Config {
        signing: SigningConfig {
            key_file: Some(path),
            key_id: None,
        },
        ..Config::default()
    };
    let error = config.validate(false).unwrap_err().to_string();
    assert!(
        error.contains("signing.key_file") && error.contains("bad.key"),
        "{error}"
    );
}

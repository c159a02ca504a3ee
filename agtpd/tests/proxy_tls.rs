//! mod-proxy to an upstream that speaks TLS 1.3: trusted through `ca_file`, refused with
//! 502 `upstream-tls-failed` when the certificate is not trusted.

#![allow(clippy::unwrap_used)]

mod runtimes;
mod support;

use agtpd::config::{Config, TlsConfig};
use runtimes::proxy::{proxy_endpoint, Edge, Origin};
use runtimes::{body, query, Endpoint};
use serde_json::json;
use support::error_code;
use tempfile::TempDir;

/// A self-signed certificate for `localhost`: (dir, cert.pem, key.pem).
fn certificate() -> (TempDir, std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, private) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&private, key.key_pair.serialize_pem()).unwrap();
    (dir, cert, private)
}

/// An edge whose `QUERY /things` goes to the origin as `agtp://localhost:PORT`.
async fn edge(origin: &Origin, table: serde_json::Value) -> Edge {
    let upstream = format!(
        "upstream = \"agtp://localhost:{}\"",
        origin.server.addr.port()
    );
    let file = proxy_endpoint(&Endpoint::query("/things"), &upstream);
    Edge::start("edge", &[file], table).await
}

#[tokio::test]
async fn a_tls_upstream_is_reached_when_its_ca_is_trusted_and_refused_with_502_when_not() {
    let (_dir, cert, key) = certificate();
    let tls = TlsConfig {
        cert_file: Some(cert.clone()),
        key_file: Some(key),
        ..TlsConfig::default()
    };
    let origin = Origin::start_with("origin", "ok", |config| Config { tls, ..config }).await;

    let trusting = edge(&origin, json!({"ca_file": cert})).await;
    let response = trusting
        .server
        .client()
        .await
        .exchange(query("/things", r#"{"data":"sealed"}"#))
        .await;
    assert_eq!(response.status.code(), 200, "{:?}", body(&response));
    assert_eq!(body(&response)["echoed"]["data"], "sealed");

    let doubting = edge(&origin, json!({"tls": true})).await;
    let refused = doubting.query("/things").await;
    assert_eq!(refused.status.code(), 502);
    assert_eq!(error_code(&refused), "upstream-tls-failed");
}

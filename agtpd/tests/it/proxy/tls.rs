//! mod-proxy to an upstream that speaks TLS 1.3: trusted through `ca_file`, refused with
//! 502 `upstream-tls-failed` when the certificate is not trusted.

use crate::proxy::{proxy_endpoint, Edge, Origin};
use agtpd::config::Config;
use agtpd_harness::error_code;
use agtpd_harness::tls::SelfSigned;
use agtpd_harness::{body, query, Endpoint};
use serde_json::json;

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
    let pki = SelfSigned::localhost();
    let tls = pki.tls_config();
    let origin = Origin::start_with("origin", "ok", |config| Config { tls, ..config }).await;

    let trusting = edge(&origin, json!({"ca_file": pki.cert})).await;
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

//! Client certificates over real TLS on loopback: `[tls] client_auth` in each mode, the
//! certificate bound to the Agent-ID, agents that demand one, the extensions enforced,
//! what the runtime's envelope says, reload, and a handshake flood.

use std::time::Duration;

use agtp_core::Status;
use agtpd::cert::{AgentSpec, Issued, Validity};
use agtpd::config::Config;
use agtpd::tls::ClientAuth;
use agtpd_harness::tls::AgentPki;
use agtpd_harness::{error_code, query, Client, Endpoint, Runtime, Site, TestDaemon, AGENT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn spec() -> AgentSpec {
    AgentSpec {
        agent_id: Some(AGENT.to_owned()),
        ..AgentSpec::default()
    }
}

/// A site with `/things`, its daemon with `client_auth` against `pki`'s CA, and a runtime.
async fn serve(
    site: &Site,
    pki: &AgentPki,
    auth: ClientAuth,
    edit: impl FnOnce(&mut Config),
) -> (TestDaemon, Runtime) {
    let mut config = Config {
        tls: pki.tls_config(auth),
        ..site.config()
    };
    edit(&mut config);
    let daemon = site.serve(config).await;
    let runtime = site.runtime("ok", &[]);
    agtpd_harness::ready(&daemon, "default", 1).await;
    (daemon, runtime)
}

/// A request that expects an answer, with `headers` added.
fn request(path: &str, headers: &str) -> String {
    query(path, "{}").replacen("\r\n", &format!("\r\n{headers}"), 1)
}

/// `request` without its `Agent-ID` line.
fn anonymous(path: &str) -> String {
    request(path, "").replacen(&format!("Agent-ID: {AGENT}\r\n"), "", 1)
}

/// Whether a client presenting `identity` is refused: TLS 1.3 lets the client finish
/// its side of the handshake, so the refusal shows as no answer.
async fn refused(pki: &AgentPki, daemon: &TestDaemon, identity: Option<&Issued>) -> bool {
    let Ok(mut client) = pki.client(daemon.addr, identity).await else {
        return true;
    };
    client.send(anonymous("/things")).await;
    client.try_response().await.is_none()
}

#[tokio::test]
async fn required_serves_only_a_valid_certificate_from_its_ca() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Required, |_| {}).await;
    let other_ca = AgentPki::new();

    let valid = pki.agent("valid", spec(), Validity::days(1));
    let plain = pki.agent("plain", AgentSpec::default(), Validity::days(1));
    let foreign = other_ca.agent("foreign", spec(), Validity::days(1));
    let expired = pki.agent(
        "expired",
        spec(),
        Validity {
            from_days: -10,
            days: 5,
        },
    );
    let expired_plain = pki.agent(
        "expired-plain",
        AgentSpec::default(),
        Validity {
            from_days: -10,
            days: 5,
        },
    );
    let early = pki.agent(
        "early",
        spec(),
        Validity {
            from_days: 5,
            days: 5,
        },
    );

    assert!(refused(&pki, &daemon, None).await, "no certificate");
    assert!(refused(&pki, &daemon, Some(&foreign)).await, "another CA's");
    assert!(
        refused(&pki, &daemon, Some(&expired)).await,
        "expired, AGTP extensions"
    );
    assert!(
        refused(&pki, &daemon, Some(&expired_plain)).await,
        "expired, no extensions"
    );
    assert!(refused(&pki, &daemon, Some(&early)).await, "not yet valid");

    // No Agent-ID header: the certificate names the agent.
    let mut client = pki.client(daemon.addr, Some(&valid)).await.unwrap();
    assert_eq!(
        client.exchange(anonymous("/things")).await.status,
        Status::OK
    );
    // A certificate without subject-agent-id proves the hash of its key, which no
    // hosted agent is.
    let mut client = pki.client(daemon.addr, Some(&plain)).await.unwrap();
    let response = client.exchange(anonymous("/things")).await;
    assert_eq!(response.status, Status::NOT_FOUND);
    assert_eq!(error_code(&response), "agent-not-found");
}

#[tokio::test]
async fn optional_serves_both_and_the_runtime_learns_which() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, runtime) = serve(&site, &pki, ClientAuth::Optional, |_| {}).await;
    let spec = AgentSpec {
        principal_id: Some("tests@example.org".into()),
        scopes: Some(vec!["test:run".into()]),
        zone: Some("zone:test".into()),
        trust_tier: Some(2),
        archetype: Some("monitor".into()),
        ..spec()
    };
    let agent = pki.agent("agent", spec, Validity::days(1));

    let mut with = pki.client(daemon.addr, Some(&agent)).await.unwrap();
    assert_eq!(
        with.exchange(request("/things", "")).await.status,
        Status::OK
    );
    let mut without = pki.client(daemon.addr, None).await.unwrap();
    assert_eq!(
        without.exchange(request("/things", "")).await.status,
        Status::OK
    );

    let requests: Vec<Value> = runtime
        .events()
        .into_iter()
        .filter(|e| e["event"] == "request")
        .collect();
    let der = CertificateDer::from_pem_file(&agent.cert).unwrap();
    let fingerprint: String = Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (proven, claimed) = (&requests[0], &requests[1]);
    assert_eq!(proven["envelope"]["agent_verified"], true);
    assert_eq!(
        proven["envelope"]["agent_cert_fingerprint"],
        fingerprint.as_str()
    );
    assert_eq!(
        proven["envelope"]["agent_cert_extensions"],
        serde_json::json!({
            "subject_agent_id": AGENT, "principal_id": "tests@example.org",
            "authority_scopes": ["test:run"], "governance_zone": "zone:test",
            "trust_tier": 2, "archetype": "monitor",
        })
    );
    assert_eq!(proven["trust"]["method"], "agent_cert_mtls");
    assert_eq!(
        proven["trust"]["agent_cert_fingerprint"],
        fingerprint.as_str()
    );
    assert_eq!(claimed["envelope"]["agent_verified"], false);
    assert_eq!(
        claimed["envelope"]["agent_cert_extensions"],
        serde_json::json!({})
    );
    assert_eq!(claimed["trust"]["method"], "agent_id_header");
    assert_eq!(claimed["trust"]["agent_cert_fingerprint"], Value::Null);
}

#[tokio::test]
async fn an_agent_id_or_principal_the_certificate_does_not_prove_is_401() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Optional, |_| {}).await;
    let stranger = AgentSpec {
        agent_id: Some("ab".repeat(32)),
        principal_id: Some("someone@example.org".into()),
        ..AgentSpec::default()
    };
    let other = pki.agent("other", stranger, Validity::days(1));
    let mut client = pki.client(daemon.addr, Some(&other)).await.unwrap();
    let response = client.exchange(request("/things", "")).await;
    assert_eq!(response.status, Status::UNAUTHORIZED);
    assert_eq!(error_code(&response), "agent-id-mismatch");

    let mine = AgentSpec {
        principal_id: Some("tests@example.org".into()),
        ..spec()
    };
    let mine = pki.agent("mine", mine, Validity::days(1));
    let mut client = pki.client(daemon.addr, Some(&mine)).await.unwrap();
    let response = client
        .exchange(request("/things", "Principal-ID: mallory@example.org\r\n"))
        .await;
    assert_eq!(response.status, Status::UNAUTHORIZED);
    assert_eq!(error_code(&response), "principal-id-mismatch");
    let matching = request("/things", "Principal-ID: tests@example.org\r\n");
    assert_eq!(client.exchange(matching).await.status, Status::OK);
}

#[tokio::test]
async fn an_agent_that_requires_a_certificate_refuses_header_only_identity() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let path = site.dir.path().join("agents/tester.agent.json");
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    document["policies"] = serde_json::json!({"identity": {"require_certificate": true}});
    std::fs::write(&path, document.to_string()).unwrap();
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Optional, |_| {}).await;

    let mut header_only = pki.client(daemon.addr, None).await.unwrap();
    let response = header_only.exchange(request("/things", "")).await;
    assert_eq!(response.status, Status::UNAUTHORIZED);
    assert_eq!(error_code(&response), "certificate-required");
    let agent = pki.agent("agent", spec(), Validity::days(1));
    let mut proven = pki.client(daemon.addr, Some(&agent)).await.unwrap();
    assert_eq!(
        proven.exchange(request("/things", "")).await.status,
        Status::OK
    );
}

#[tokio::test]
async fn the_server_policy_demands_a_certificate_of_every_agent() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Optional, |c| {
        c.policies.require_certificate = true;
    })
    .await;
    let mut header_only = pki.client(daemon.addr, None).await.unwrap();
    let response = header_only.exchange(request("/things", "")).await;
    assert_eq!(error_code(&response), "certificate-required");
}

#[tokio::test]
async fn committed_scopes_and_the_governance_zone_are_enforced() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Required, |_| {}).await;
    let committed = AgentSpec {
        scopes: Some(vec!["test:other".into()]),
        zone: Some("zone:a".into()),
        ..spec()
    };
    let agent = pki.agent("agent", committed, Validity::days(1));
    let mut client = pki.client(daemon.addr, Some(&agent)).await.unwrap();

    let response = client
        .exchange(request("/things", "Authority-Scope: test:run\r\n"))
        .await;
    assert_eq!(response.status, Status::SCOPE_VIOLATION);
    assert_eq!(error_code(&response), "scope-outside-commitment");
    let error = &agtpd_harness::body(&response)["error"];
    assert_eq!(error["outside_commitment"], serde_json::json!(["test:run"]));
    assert_eq!(error["committed"], serde_json::json!(["test:other"]));

    let response = client
        .exchange(request("/things", "AGTP-Zone-ID: zone:b\r\n"))
        .await;
    assert_eq!(response.status, Status::ZONE_VIOLATION);
    assert_eq!(error_code(&response), "zone-violation");
    assert_eq!(
        agtpd_harness::body(&response)["error"]["target_zone"],
        "zone:a"
    );
    for fine in ["AGTP-Zone-ID: zone:a\r\n", ""] {
        assert_eq!(
            client.exchange(request("/things", fine)).await.status,
            Status::OK
        );
    }
}

#[tokio::test]
async fn a_certificate_that_proves_no_agent_is_refused_at_its_first_request() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Required, |_| {}).await;
    // An ECDSA certificate from the same CA: valid for TLS, but no agent's key.
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(pki.ca.join("ca.key")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(pki.ca.join("ca.crt")).unwrap(),
        ca_key,
    )
    .unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let ecdsa = Issued {
        cert: pki.dir.path().join("ecdsa.crt"),
        key: pki.dir.path().join("ecdsa.key"),
        agent_id: None,
    };
    std::fs::write(&ecdsa.cert, cert.pem()).unwrap();
    std::fs::write(&ecdsa.key, key.serialize_pem()).unwrap();

    let mut client = pki.client(daemon.addr, Some(&ecdsa)).await.unwrap();
    let response = client.exchange(request("/things", "")).await;
    assert_eq!(response.status, Status::UNAUTHORIZED);
    assert_eq!(error_code(&response), "cert-verification-failed");
    assert_eq!(
        agtpd_harness::body(&response)["error"]["reason"],
        "not-ed25519"
    );
    assert_eq!(response.headers.get("Connection"), Some("close"));
}

#[tokio::test]
async fn a_reload_swaps_the_ca_for_new_connections_and_keeps_the_old_ca_when_the_new_file_is_broken(
) {
    let site = Site::new(&[Endpoint::query("/things")]);
    let (first, second) = (AgentPki::new(), AgentPki::new());
    let (daemon, _runtime) = serve(&site, &first, ClientAuth::Required, |_| {}).await;
    let old = first.agent("old", spec(), Validity::days(1));
    let new = second.agent("new", spec(), Validity::days(1));
    let mut held = first.client(daemon.addr, Some(&old)).await.unwrap();
    assert_eq!(
        held.exchange(request("/things", "")).await.status,
        Status::OK
    );

    let mut config = daemon.daemon().config();
    config.tls.client_ca_file = Some(second.ca.join("ca.crt"));
    daemon.daemon().reload(&config).unwrap();
    // Same server certificate, new CA: new clients of the second CA are served, of the
    // first refused; the connection made before goes on.
    assert!(refused(&first, &daemon, Some(&old)).await);
    let mut client = first.client(daemon.addr, Some(&new)).await.unwrap();
    assert_eq!(
        client.exchange(request("/things", "")).await.status,
        Status::OK
    );
    assert_eq!(
        held.exchange(request("/things", "")).await.status,
        Status::OK
    );

    let broken = second.dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    config.tls.client_ca_file = Some(broken);
    assert!(daemon.daemon().reload(&config).is_err());
    let mut client = first.client(daemon.addr, Some(&new)).await.unwrap();
    assert_eq!(
        client.exchange(request("/things", "")).await.status,
        Status::OK
    );
}

#[tokio::test]
async fn a_handshake_flood_does_not_block_a_client_with_a_certificate() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let pki = AgentPki::new();
    let (daemon, _runtime) = serve(&site, &pki, ClientAuth::Required, |c| {
        c.timeouts.tls_handshake = Duration::from_secs(30);
    })
    .await;
    let mut flood = Vec::new();
    for n in 0..96 {
        let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
        // Half never start; half send the first bytes of a ClientHello and stop.
        if n % 2 == 1 {
            stream
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .await
                .unwrap();
        }
        flood.push(stream);
    }
    let refusals = {
        let other = AgentPki::new();
        let foreign = other.agent("foreign", spec(), Validity::days(1));
        let mut refused_count = 0;
        for _ in 0..10 {
            refused_count += usize::from(refused(&pki, &daemon, Some(&foreign)).await);
        }
        refused_count
    };
    assert_eq!(refusals, 10);
    let agent = pki.agent("agent", spec(), Validity::days(1));
    let served = tokio::time::timeout(Duration::from_secs(5), async {
        let mut client: Client<_> = pki.client(daemon.addr, Some(&agent)).await.unwrap();
        client.exchange(request("/things", "")).await.status
    })
    .await;
    assert_eq!(served.ok(), Some(Status::OK));
    drop(flood);
}

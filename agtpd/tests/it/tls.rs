//! TLS 1.3 termination, with a certificate generated in the test.

use std::sync::Arc;
use std::time::Duration;

use agtp_core::Status;
use agtpd::config::Config;
use agtpd_harness::tls::SelfSigned;
use agtpd_harness::{Client, TestDaemon};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Pki {
    _files: SelfSigned,
    config: Config,
    cert: CertificateDer<'static>,
}

fn pki() -> Pki {
    let files = SelfSigned::localhost();
    Pki {
        config: Config {
            tls: files.tls_config(),
            ..Config::default()
        },
        cert: CertificateDer::from(files.der.clone()),
        _files: files,
    }
}

fn connector(
    cert: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn a_tls_13_client_is_served_over_a_persistent_connection() {
    let pki = pki();
    let server = TestDaemon::start(pki.config.clone()).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector(&pki.cert, &[&rustls::version::TLS13])
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let mut client = Client::new(tls);
    for _ in 0..3 {
        let response = client.exchange("AGTP/1.0 DISCOVER\r\n\r\n").await;
        assert_eq!(response.status, Status::OK);
        assert_eq!(response.headers.get("Server-ID"), Some("agtpd"));
    }
}

#[tokio::test]
async fn a_tls_12_client_is_refused() {
    let pki = pki();
    let server = TestDaemon::start(pki.config.clone()).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let result = connector(&pki.cert, &[&rustls::version::TLS12])
        .connect(name, tcp)
        .await;
    assert!(result.is_err(), "TLS 1.2 handshake must fail");
    handshake_failures_reach(&server, 1).await;
}

/// Waits (at most 2 s) until `/metrics` counts `n` failed TLS handshakes.
async fn handshake_failures_reach(server: &TestDaemon, n: u64) {
    let line = format!("agtpd_tls_handshake_failures_total {n}\n");
    for _ in 0..200 {
        if server.daemon().encode_metrics().unwrap().contains(&line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{line:?} not in {}",
        server.daemon().encode_metrics().unwrap()
    );
}

#[tokio::test]
async fn a_plaintext_client_on_a_tls_listener_gets_no_agtp_answer() {
    let pki = pki();
    let server = TestDaemon::start(pki.config.clone()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"AGTP/1.0 QUERY /rooms\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.expect("closed promptly").is_ok());
    assert!(
        !answer.starts_with(b"AGTP"),
        "at most a TLS alert: {answer:?}"
    );
    handshake_failures_reach(&server, 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_completes_the_handshake_is_dropped_at_the_timeout() {
    let pki = pki();
    let server = TestDaemon::start(pki.config.clone()).await;
    let mut silent = server.client().await;
    let started = tokio::time::Instant::now();
    assert!(silent.is_closed().await);
    assert_eq!(started.elapsed().as_secs(), 10);
    handshake_failures_reach(&server, 1).await;
}

#[test]
fn a_missing_key_file_is_a_config_error_naming_the_file() {
    let pki = pki();
    let mut config = pki.config.clone();
    config.tls.key_file = Some("/nonexistent/key.pem".into());
    let error = config.validate(false).unwrap_err().to_string();
    assert!(
        error.contains("tls.key_file") && error.contains("/nonexistent/key.pem"),
        "{error}"
    );
}

#[test]
fn a_certificate_without_its_key_is_a_config_error() {
    let pki = pki();
    let mut config = pki.config.clone();
    config.tls.key_file = None;
    let error = config.validate(false).unwrap_err().to_string();
    assert!(error.contains("set together"), "{error}");
}

#[test]
fn tls_makes_non_loopback_listeners_acceptable() {
    let pki = pki();
    let config = Config {
        listen: vec!["0.0.0.0:4480".parse().unwrap()],
        ..pki.config.clone()
    };
    config.validate(false).unwrap();
}

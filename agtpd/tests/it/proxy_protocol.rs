//! `[proxy_protocol]` through the real binary: the client address of a trusted
//! balancer's v1 and v2 headers reaches the access log, the audit record and the runtime's
//! envelope; a malformed or missing header from a trusted peer closes the connection; an
//! untrusted peer's header is an ordinary bad request.

use std::path::Path;

use agtpd_harness::admin::readyz_until;
use agtpd_harness::{query, Client, Endpoint, Runtime, Site, TestDaemon};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::AGTPD;

/// agtpd with `[proxy_protocol]` on its listener, trusting `trusted`, with the audit
/// module, and a runtime it is ready with.
async fn start(site: &Site, trusted: &str) -> (TestDaemon, Runtime) {
    let dir = site.dir.path();
    agtpd::signing::keygen(dir).unwrap();
    let extra = format!(
        "[proxy_protocol]\nlisteners = [\"127.0.0.1:0\"]\ntrusted = [\"{trusted}\"]\n\
         [signing]\nkey_file = \"{d}/signing.key\"\n[modules]\nload = [\"audit\"]\n\
         [modules.audit]\npath = \"{d}/audit.log\"\nfsync = \"always\"\n",
        d = dir.display()
    );
    let daemon = TestDaemon::binary(AGTPD)
        .config(site.write_config(&extra))
        .args(&["--admin-listen", "127.0.0.1:0"])
        .start();
    let runtime = site.runtime("ok", &[]);
    readyz_until(daemon.admin(), 200).await;
    (daemon, runtime)
}

/// The `peer` of the first `n` access lines.
async fn access_peers(daemon: &TestDaemon, n: usize) -> Vec<String> {
    daemon
        .until_events(n, |e| e["target"] == "agtpd::access")
        .await
        .iter()
        .map(|e| e["fields"]["peer"].as_str().unwrap().to_owned())
        .collect()
}

fn audit_clients(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "record")
        .map(|e| e["client"].clone())
        .collect()
}

/// A v2 PROXY header (PROXY command, TCP over IPv4) from `source`.
fn v2_header(source: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend([0x21, 0x11, 0, 12]);
    h.extend(source);
    h.extend([127, 0, 0, 1]);
    h.extend(port.to_be_bytes());
    h.extend(4480u16.to_be_bytes());
    h
}

async fn through(daemon: &TestDaemon, header: &[u8]) -> Client<TcpStream> {
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    stream.write_all(header).await.unwrap();
    Client::new(stream)
}

#[tokio::test]
async fn a_trusted_balancers_header_names_the_client_in_logs_audit_and_envelope() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let (daemon, runtime) = start(&site, "127.0.0.1/32").await;

    let mut v1 = through(&daemon, b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 4480\r\n").await;
    assert_eq!(v1.exchange(query("/things", "{}")).await.status.code(), 200);
    let mut v2 = through(&daemon, &v2_header([198, 51, 100, 9], 40000)).await;
    assert_eq!(v2.exchange(query("/things", "{}")).await.status.code(), 200);

    let peers = access_peers(&daemon, 2).await;
    assert_eq!(peers, ["203.0.113.7:51000", "198.51.100.9:40000"]);
    let envelopes: Vec<Value> = runtime
        .events()
        .iter()
        .filter(|e| e["event"] == "request")
        .map(|e| e["envelope"]["client_address"].clone())
        .collect();
    assert_eq!(envelopes, ["203.0.113.7:51000", "198.51.100.9:40000"]);
    assert_eq!(
        audit_clients(site.dir.path()),
        ["203.0.113.7:51000", "198.51.100.9:40000"]
    );
}

#[tokio::test]
async fn a_trusted_peer_without_a_valid_header_is_closed_and_others_are_still_served() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let (daemon, _runtime) = start(&site, "127.0.0.1/32").await;
    for bad in [
        &b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n"[..],
        &b"PROXY SCTP 1.2.3.4 127.0.0.1 1 2\r\n"[..],
        &b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff"[..],
        &b"AGTP/1.0 DISCOVER /methods\r\n\r\n"[..],
    ] {
        let mut client = through(&daemon, bad).await;
        assert!(client.try_response().await.is_none(), "{bad:?} is answered");
    }
    let mut good = through(&daemon, b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 4480\r\n").await;
    assert_eq!(
        good.exchange(query("/things", "{}")).await.status.code(),
        200
    );
}

#[tokio::test]
async fn an_untrusted_peers_header_is_a_bad_request_and_its_own_address_is_logged() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let (daemon, _runtime) = start(&site, "10.0.0.0/8").await;
    let mut forged = through(&daemon, b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 4480\r\n").await;
    forged.send(query("/things", "{}")).await;
    assert_eq!(forged.response().await.status.code(), 400);
    let mut plain = daemon.client().await;
    assert_eq!(
        plain.exchange(query("/things", "{}")).await.status.code(),
        200
    );
    let peers: Vec<String> = daemon
        .until_events(2, |e| e["target"] == "agtpd::access")
        .await
        .iter()
        .map(|e| e["fields"]["peer"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        peers.iter().all(|p| p.starts_with("127.0.0.1:")),
        "{peers:?}"
    );
}

//! `[proxy_protocol]`: the PROXY protocol (v1 text and v2 binary, as HAProxy defines them)
//! on chosen listeners, so that behind an L4 load balancer the client's own address, not
//! the balancer's, reaches the access log, the modules (`Cx::client_address`: the audit
//! record) and the runtimes (`envelope.client_address`).
//!
//! ```toml
//! [proxy_protocol]
//! listeners = ["0.0.0.0:4480"]     # `listen` addresses whose peers send a PROXY header
//! trusted = ["10.0.0.0/8"]         # peers whose header is believed
//! ```
//!
//! On such a listener a connection from a trusted peer must open with a header (before
//! TLS); one that does not, or sends a malformed one, is closed. A `LOCAL` (v2) or
//! `UNKNOWN` (v1) header, a balancer's own health check, keeps the peer's address. A peer
//! outside `trusted` is served as if the listener had no PROXY protocol: a header it sends
//! is just a malformed request (400). The header is read without reading past it, by
//! peeking, so what follows (TLS or AGTP) is untouched. Parsing is the `ppp` crate's.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use ppp::v1;
use ppp::v2;
use ppp::{HeaderResult, PartialResult};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::error::{invalid, ConfigError};
use crate::restart::Pinned;

/// The longest header read: a v1 line is at most 107 bytes; a v2 header with TLVs from
/// common balancers stays well under this.
const MAX_HEADER: usize = 1024;

/// `[proxy_protocol]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocolConfig {
    /// The `listen` addresses whose trusted peers open with a PROXY header.
    pub listeners: Vec<SocketAddr>,
    /// The peers (addresses or CIDR ranges) whose header is believed.
    pub trusted: Vec<IpNet>,
}

impl ProxyProtocolConfig {
    /// Every listener is a `listen` address, and some peer is trusted.
    pub(crate) fn validate(&self, listen: &[SocketAddr]) -> Result<(), ConfigError> {
        if let Some(addr) = self.listeners.iter().find(|a| !listen.contains(a)) {
            return Err(invalid(
                "proxy_protocol.listeners",
                format!("{addr} is not one of the `listen` addresses"),
            ));
        }
        if !self.listeners.is_empty() && self.trusted.is_empty() {
            return Err(invalid(
                "proxy_protocol.trusted",
                "name the load balancers whose PROXY header is believed",
            ));
        }
        Ok(())
    }

    /// Both keys need a restart, like `listen`.
    pub(crate) fn pin(&mut self, running: &ProxyProtocolConfig, pinned: &mut Pinned) {
        pinned.keep("proxy_protocol", self, running);
    }

    /// The policy of the listener on `addr`, when it takes PROXY headers.
    pub(crate) fn for_listener(&self, addr: SocketAddr) -> Option<Trusted> {
        self.listeners
            .contains(&addr)
            .then(|| Trusted(self.trusted.clone()))
    }
}

/// The peers of one listener whose PROXY header is believed.
#[derive(Debug, Clone)]
pub(crate) struct Trusted(Vec<IpNet>);

impl Trusted {
    pub(crate) fn trusts(&self, peer: SocketAddr) -> bool {
        self.0.iter().any(|net| net.contains(&peer.ip()))
    }
}

/// Reads the PROXY header at the start of `stream` within `limit`: the client's address
/// (the peer's own for `LOCAL` and `UNKNOWN`), or why the connection must be closed.
pub(crate) async fn read_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    limit: Duration,
) -> Result<SocketAddr, String> {
    tokio::time::timeout(limit, read(stream, peer))
        .await
        .unwrap_or_else(|_| Err(format!("no complete PROXY header within {limit:?}")))
}

async fn read(stream: &mut TcpStream, peer: SocketAddr) -> Result<SocketAddr, String> {
    let mut buf = vec![0u8; MAX_HEADER];
    let mut pause = Duration::from_millis(1);
    loop {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|e| format!("reading the PROXY header: {e}"))?;
        if n == 0 {
            return Err("closed before a PROXY header".into());
        }
        let parsed = HeaderResult::parse(&buf[..n]);
        if parsed.is_complete() {
            let (len, client) = match parsed {
                HeaderResult::V1(Ok(header)) => (header.header.len(), v1_client(&header.addresses)),
                HeaderResult::V2(Ok(header)) => (header.len(), v2_client(&header)),
                HeaderResult::V1(Err(e)) => return Err(format!("malformed PROXY v1 header: {e}")),
                HeaderResult::V2(Err(e)) => return Err(format!("malformed PROXY v2 header: {e}")),
            };
            let mut header = vec![0u8; len];
            stream
                .read_exact(&mut header)
                .await
                .map_err(|e| format!("reading the PROXY header: {e}"))?;
            return Ok(client.unwrap_or(peer));
        }
        if n == buf.len() || announced(&buf[..n]) > MAX_HEADER {
            return Err(format!("PROXY header longer than {MAX_HEADER} bytes"));
        }
        // More of the header is on its way: peeking again at once would spin.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The whole length a v2 header announces in its first 16 bytes (0 before them, or for
/// a v1 header).
fn announced(buf: &[u8]) -> usize {
    match buf.get(12..16) {
        Some([_, _, hi, lo]) if buf.starts_with(V2_SIGNATURE) => {
            16 + usize::from(u16::from_be_bytes([*hi, *lo]))
        }
        _ => 0,
    }
}

/// The 12 bytes that open a v2 header.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v1_client(addresses: &v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    }
}

fn v2_client(header: &v2::Header<'_>) -> Option<SocketAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match header.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

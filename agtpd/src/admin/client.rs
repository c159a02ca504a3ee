//! `agtpd health` and `agtpd status`: GET the admin listener of a running agtpd.
//!
//! Exit codes of `agtpd health` (also in its `--help`): 0 ready (alive, with `--live`); 1 not ready, nothing
//! listening, or an unexpected answer; 78 no admin address configured, or the
//! configuration could not be read. `agtpd status` uses the same codes, with 0 whenever
//! `/status` answered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::cli::{AdminTarget, HealthArgs, StatusArgs};
use crate::ExitStatus;

/// How long a probe may take, connection included.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer read.
const MAX_ANSWER: usize = 8 << 20;

/// `agtpd health`: readiness, or with `--live` liveness.
pub(crate) fn health(args: &HealthArgs) -> ExitStatus {
    let addr = match address(&args.target) {
        Ok(addr) => addr,
        Err(status) => return status,
    };
    let path = if args.live { "/healthz" } else { "/readyz" };
    match get_blocking(addr, path) {
        Ok((200, _)) => ExitStatus::Clean,
        Ok((code, body)) => {
            let body = String::from_utf8_lossy(&body);
            let why: Vec<&str> = body.lines().filter(|l| *l != "not ready").collect();
            eprintln!("agtpd health: {addr}: {code}: {}", why.join("; "));
            ExitStatus::Unhealthy
        }
        Err(message) => {
            eprintln!("agtpd health: {addr}: {message}");
            ExitStatus::Unhealthy
        }
    }
}

/// `agtpd status`.
pub(crate) fn status(args: &StatusArgs) -> ExitStatus {
    let addr = match address(&args.target) {
        Ok(addr) => addr,
        Err(status) => return status,
    };
    let body = match get_blocking(addr, "/status") {
        Ok((200, body)) => body,
        Ok((code, _)) => {
            eprintln!("agtpd status: {addr}: /status answered {code}");
            return ExitStatus::Unhealthy;
        }
        Err(message) => {
            eprintln!("agtpd status: {addr}: {message}");
            return ExitStatus::Unhealthy;
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(status) if args.json => println!("{status:#}"),
        Ok(status) => print!("{}", super::status::render(&status)),
        Err(error) => {
            eprintln!("agtpd status: {addr}: /status is not JSON: {error}");
            return ExitStatus::Unhealthy;
        }
    }
    ExitStatus::Clean
}

/// `--admin`, else `[admin] listen`; an unspecified address (`0.0.0.0`) is asked on
/// loopback.
fn address(target: &AdminTarget) -> Result<SocketAddr, ExitStatus> {
    let addr = match target.admin {
        Some(addr) => addr,
        None => match crate::config::load_admin(target.config.as_deref()) {
            Ok(admin) => match admin.listen {
                Some(addr) => addr,
                None => {
                    eprintln!(
                        "agtpd: no admin address: set [admin] listen (or AGTPD_ADMIN__LISTEN), \
                         or pass --admin"
                    );
                    return Err(ExitStatus::Config);
                }
            },
            Err(error) => {
                eprintln!("agtpd: configuration error: {error}");
                return Err(ExitStatus::Config);
            }
        },
    };
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, addr.port()))
}

fn get_blocking(addr: SocketAddr, path: &str) -> Result<(u16, Bytes), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        tokio::time::timeout(PROBE_TIMEOUT, get(addr, path))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {PROBE_TIMEOUT:?}")))
    })
}

/// One HTTP/1.1 GET of `path` on the admin listener at `addr`: the status code and the
/// body (at most 8 MiB). No timeout of its own.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(u16, Bytes), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let code = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok((code, body))
}

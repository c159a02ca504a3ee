//! The admin listener: plain HTTP/1.1 on its own address (`[admin] listen`), answering
//!
//! - `GET /healthz`: 200 while the process answers (liveness);
//! - `GET /readyz`: 200 when every pool an endpoint or a `[[runtime]]` needs has a
//!   registered connection and the daemon is not draining, else 503 saying why;
//! - `GET /metrics`: OpenMetrics text (`metrics.rs`);
//! - `GET /status`: JSON: pools, runtime processes, modules, config hash (`status.rs`).
//!
//! `[admin] metrics_listen` runs the same server answering `/metrics` only ([`Routes`]).
//!
//! It runs on its own tasks, outside the AGTP connection limit and the runtime pools, so a
//! probe is answered even when every runtime is busy. Its own limit
//! ([`MAX_CONNECTIONS`]) never turns a newcomer away: the oldest connection is closed to
//! make room, so a few idle or slow sockets cannot starve a probe. It has no authentication: config
//! validation keeps it on loopback unless `admin.allow_off_loopback` says otherwise.
//! This file holds the server and the routing; `config.rs` `[admin]` and its validation;
//! `status.rs` the readiness check and the `/status` document; `client.rs` the other
//! side: `agtpd health` and `agtpd status`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::server::Daemon;

pub mod client;
pub mod config;
mod status;

/// The `/metrics` content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Admin connections served at once; a newer one closes the oldest.
pub const MAX_CONNECTIONS: usize = 64;
/// Time allowed for a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest an admin connection may stay open, keep-alive included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// What a listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    /// `/healthz`, `/readyz`, `/metrics` and `/status`: `[admin] listen`.
    All,
    /// `/metrics` alone: `[admin] metrics_listen`.
    MetricsOnly,
}

/// Serves `routes` on `listener` for as long as the future is polled.
pub async fn serve(daemon: Arc<Daemon>, listener: TcpListener, routes: Routes) {
    let open = Arc::new(Open::default());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, closed) = open.admit();
        let daemon = daemon.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let answer = answer(&daemon, routes, request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_LIFETIME, connection) => {}
                () = closed.cancelled() => {
                    tracing::debug!("admin connection limit reached; closed the oldest");
                }
            }
            open.forget(id);
        });
    }
}

/// The open admin connections, oldest first, each with the token that closes it.
#[derive(Default)]
struct Open(Mutex<(u64, VecDeque<(u64, CancellationToken)>)>);

impl Open {
    /// Registers a new connection, closing the oldest when the limit is reached.
    fn admit(&self) -> (u64, CancellationToken) {
        let mut guard = self.0.lock().expect("admin registry");
        let (next_id, open) = &mut *guard;
        while open.len() >= MAX_CONNECTIONS {
            if let Some((_, oldest)) = open.pop_front() {
                oldest.cancel();
            }
        }
        let id = *next_id;
        *next_id += 1;
        let token = CancellationToken::new();
        open.push_back((id, token.clone()));
        (id, token)
    }

    fn forget(&self, id: u64) {
        let mut guard = self.0.lock().expect("admin registry");
        if let Some(at) = guard.1.iter().position(|(i, _)| *i == id) {
            guard.1.remove(at);
        }
    }
}

/// The answer to one admin request.
fn answer(daemon: &Daemon, routes: Routes, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".to_owned());
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if routes == Routes::MetricsOnly && path != "/metrics" {
        return text(
            StatusCode::NOT_FOUND,
            "not found; this listener serves /metrics only\n".to_owned(),
        );
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n".to_owned()),
        "/readyz" => match status::readiness(daemon) {
            Ok(()) => text(StatusCode::OK, "ready\n".to_owned()),
            Err(reasons) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready\n{}\n", reasons.join("\n")),
            ),
        },
        "/metrics" => match daemon.encode_metrics() {
            Ok(text) => with_type(StatusCode::OK, OPENMETRICS, text),
            Err(_) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics could not be encoded\n".to_owned(),
            ),
        },
        "/status" => with_type(
            StatusCode::OK,
            "application/json",
            status::status(daemon).to_string(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /healthz, /readyz, /metrics or /status\n".to_owned(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", body)
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

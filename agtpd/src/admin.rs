//! The admin listener: plain HTTP/1.1 on its own address (`[admin] listen`), answering
//!
//! - `GET /healthz`: 200 while the process answers (liveness);
//! - `GET /readyz`: 200 when every pool an endpoint or a `[[runtime]]` needs has a
//!   registered connection and the daemon is not draining, else 503 saying why;
//! - `GET /metrics`: OpenMetrics text (`metrics.rs`);
//! - `GET /status`: JSON: pools, runtime processes, modules, config hash (`status.rs`).
//!
//! It runs on its own tasks, outside the AGTP connection limit and the runtime pools, so a
//! probe is answered even when every runtime is busy. It has no authentication: config
//! validation keeps it on loopback unless `admin.allow_off_loopback` says otherwise.
//! This file holds the server and the routing; `config.rs` `[admin]` and its validation;
//! `status.rs` the readiness check and the `/status` document; `client.rs` the other
//! side: `agtpd health` and `agtpd status`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::server::Daemon;

pub mod client;
pub mod config;
mod status;

/// The `/metrics` content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Admin connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 64;
/// Time allowed for a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest an admin connection may stay open, keep-alive included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Serves the admin endpoints on `listener` for as long as the future is polled.
pub async fn serve(daemon: Arc<Daemon>, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!("admin connection limit reached; closing");
            continue;
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let answer = answer(&daemon, request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(permit);
        });
    }
}

/// The answer to one admin request.
fn answer(daemon: &Daemon, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".to_owned());
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
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

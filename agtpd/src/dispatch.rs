//! Routing a parsed request to what answers it.
//!
//! The server core routes nothing yet: every request is answered with a precise
//! 404 `endpoint-not-found` until endpoints are configured.

use agtp_core::{AgtpError, Request, Response, Status};

/// Answers one request.
pub(crate) fn dispatch(request: &Request) -> Response {
    let target = match &request.path {
        Some(path) => format!("`{} {}`", request.method, path),
        None => format!("target-less `{}`", request.method),
    };
    AgtpError::new(
        Status::NOT_FOUND,
        "endpoint-not-found",
        format!("no endpoint serves {target}"),
    )
    .with_detail("method", request.method.as_str())
    .to_response()
}

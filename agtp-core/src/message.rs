//! AGTP requests and responses.

use bytes::Bytes;

use crate::{Headers, Status};

/// One AGTP/1.0 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The verb, upper-cased.
    pub method: String,
    /// The path without its query; `None` for a target-less request (`AGTP/1.0 DISCOVER`).
    pub path: Option<String>,
    /// The query string, decoded into pairs in wire order (repeated keys kept).
    pub query: Vec<(String, String)>,
    /// Header fields in wire order.
    pub headers: Headers,
    /// The body, exactly Content-Length bytes.
    pub body: Bytes,
}

impl Request {
    /// A request with no path, query, headers or body.
    pub fn new(method: impl Into<String>, path: Option<&str>) -> Self {
        Request {
            method: method.into(),
            path: path.map(str::to_owned),
            query: Vec::new(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Whether the client asked to close the connection after this exchange.
    pub fn wants_close(&self) -> bool {
        self.headers
            .get_all("connection")
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    }
}

/// One AGTP/1.0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: Status,
    /// Header fields in wire order; `Content-Length` is written by the encoder.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: Status) -> Self {
        Response {
            status,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// A response whose body is `value` as JSON.
    pub fn json(status: Status, value: &serde_json::Value) -> Self {
        let mut response = Response::new(status);
        response.headers.append("Content-Type", "application/json");
        response.body = Bytes::from(value.to_string());
        response
    }
}

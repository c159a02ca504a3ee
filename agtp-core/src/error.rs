//! The error model.
//!
//! Every error the daemon emits travels in one envelope,
//! `{"error":{"code":"kebab-case","message":"...", ...details}}`, built by [`AgtpError`].
//! [`WireError`] is what the parser reports; it knows its status and code through an
//! exhaustive match, so a new variant cannot ship without a wire answer.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::{Response, Status};

/// An error answer: status, machine-readable code, human message and details.
#[derive(Debug, Clone, PartialEq)]
pub struct AgtpError {
    /// The status line's code.
    pub status: Status,
    /// A kebab-case code that clients match on.
    pub code: Cow<'static, str>,
    /// A lowercase sentence for people.
    pub message: String,
    /// Extra members of the `error` object.
    pub details: Map<String, Value>,
}

impl AgtpError {
    /// An error with no details.
    pub fn new(
        status: Status,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AgtpError {
            status,
            code: code.into(),
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Adds a member to the `error` object. `code` and `message` cannot be overwritten.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if key != "code" && key != "message" {
            self.details.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The envelope as JSON.
    pub fn body(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("code".into(), Value::from(self.code.as_ref()));
        inner.insert("message".into(), Value::from(self.message.as_str()));
        inner.extend(self.details.clone());
        let mut outer = Map::new();
        outer.insert("error".into(), Value::Object(inner));
        Value::Object(outer)
    }

    /// The envelope as a response.
    pub fn to_response(&self) -> Response {
        Response::json(self.status, &self.body())
    }
}

/// Why a peer's bytes are not a valid AGTP/1.0 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The start line is longer than the limit.
    #[error("request line longer than {limit} bytes")]
    RequestLineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The header block is larger than the limit.
    #[error("header block larger than {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More header fields than the limit.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// Content-Length announces more than the limit.
    #[error("body of {length} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The announced length (saturated at `u64::MAX`).
        length: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A plain HTTP request arrived on an AGTP port.
    #[error("this is an AGTP endpoint, not HTTP: send `AGTP/1.0 METHOD /path`")]
    HttpRequest,
    /// The line does not start with a supported protocol version.
    #[error("unsupported protocol version `{0}`: this server speaks AGTP/1.0")]
    UnsupportedVersion(String),
    /// The start line is not `AGTP/1.0 METHOD [PATH]`.
    #[error("malformed request line: {0}")]
    MalformedRequestLine(&'static str),
    /// The status line of a response is malformed.
    #[error("malformed status line: {0}")]
    MalformedStatusLine(&'static str),
    /// The request target contains a fragment.
    #[error("fragments (`#`) are not allowed in an AGTP path")]
    Fragment,
    /// A CR not followed by LF, or an LF not preceded by CR.
    #[error("line endings must be CRLF; a bare CR or LF is not allowed")]
    BareLineEnding,
    /// A header line starts with whitespace (obsolete line folding).
    #[error("obsolete line folding is not allowed")]
    ObsFold,
    /// Whitespace between a header name and its colon.
    #[error("whitespace before the colon in header `{0}`")]
    SpaceBeforeColon(String),
    /// A header name that is not an RFC 9110 token, or a line with no colon.
    #[error("invalid header name in line `{0}`")]
    InvalidHeaderName(String),
    /// A header value with a control character or invalid UTF-8.
    #[error(
        "invalid value for header `{0}`: control characters and invalid UTF-8 are not allowed"
    )]
    InvalidHeaderValue(String),
    /// A Content-Length that is not a plain decimal number.
    #[error("invalid Content-Length `{0}`: expected a non-negative decimal number")]
    InvalidContentLength(String),
    /// Two Content-Length values that differ.
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// Any Transfer-Encoding.
    #[error("Transfer-Encoding is not supported: chunked bodies are not part of AGTP/1.0; send Content-Length")]
    TransferEncoding,
}

impl WireError {
    /// The status this error answers with.
    pub fn status(&self) -> Status {
        match self {
            WireError::RequestLineTooLong { .. } => Status::URI_TOO_LONG,
            WireError::HeadersTooLarge { .. } | WireError::TooManyHeaders { .. } => {
                Status::HEADER_FIELDS_TOO_LARGE
            }
            WireError::BodyTooLarge { .. } => Status::CONTENT_TOO_LARGE,
            WireError::HttpRequest
            | WireError::UnsupportedVersion(_)
            | WireError::MalformedRequestLine(_)
            | WireError::MalformedStatusLine(_)
            | WireError::Fragment
            | WireError::BareLineEnding
            | WireError::ObsFold
            | WireError::SpaceBeforeColon(_)
            | WireError::InvalidHeaderName(_)
            | WireError::InvalidHeaderValue(_)
            | WireError::InvalidContentLength(_)
            | WireError::ConflictingContentLength
            | WireError::TransferEncoding => Status::BAD_REQUEST,
        }
    }

    /// The kebab-case code this error answers with.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::RequestLineTooLong { .. } => "request-line-too-long",
            WireError::HeadersTooLarge { .. } => "headers-too-large",
            WireError::TooManyHeaders { .. } => "too-many-headers",
            WireError::BodyTooLarge { .. } => "body-too-large",
            WireError::HttpRequest => "not-agtp",
            WireError::UnsupportedVersion(_) => "unsupported-version",
            WireError::MalformedRequestLine(_) => "malformed-request-line",
            WireError::MalformedStatusLine(_) => "malformed-status-line",
            WireError::Fragment => "fragment-not-allowed",
            WireError::BareLineEnding => "bare-line-ending",
            WireError::ObsFold => "obsolete-line-folding",
            WireError::SpaceBeforeColon(_) => "space-before-colon",
            WireError::InvalidHeaderName(_) => "invalid-header-name",
            WireError::InvalidHeaderValue(_) => "invalid-header-value",
            WireError::InvalidContentLength(_) => "invalid-content-length",
            WireError::ConflictingContentLength => "conflicting-content-length",
            WireError::TransferEncoding => "transfer-encoding-not-supported",
        }
    }

    /// The error as the daemon's envelope.
    pub fn to_agtp_error(&self) -> AgtpError {
        let error = AgtpError::new(self.status(), self.code(), self.to_string());
        match self {
            WireError::RequestLineTooLong { limit }
            | WireError::HeadersTooLarge { limit }
            | WireError::TooManyHeaders { limit } => error.with_detail("limit", *limit),
            WireError::BodyTooLarge { limit, .. } => error.with_detail("limit", *limit),
            _ => error,
        }
    }
}

#[cfg(test)]
mod tests;

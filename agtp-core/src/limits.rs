//! Parser bounds. Every one is checked before the parser buffers past it.

use serde::{Deserialize, Serialize};

/// How much a peer may send before the parser refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest request line, CRLF included (414 past it).
    pub max_request_line: usize,
    /// Largest header block after the request line, final CRLF included (431 past it).
    pub max_header_bytes: usize,
    /// Most header fields (431 past it).
    pub max_headers: usize,
    /// Largest body a Content-Length may announce (413 past it).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
        }
    }
}

/// A [`Limits`] value the parser cannot work with: the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct LimitsError {
    /// The offending key, dotted (`limits.max_request_line`).
    pub key: &'static str,
    /// What is wrong with it.
    pub message: &'static str,
}

impl Limits {
    /// Checks that the limits admit at least a minimal request and fit in memory.
    pub fn check(&self) -> Result<(), LimitsError> {
        let refuse = |key, message| Err(LimitsError { key, message });
        if self.max_request_line < 16 {
            return refuse("limits.max_request_line", "must be at least 16 bytes");
        }
        if self.max_header_bytes < 2 || self.max_headers == 0 {
            return refuse(
                "limits",
                "max_header_bytes and max_headers must allow one header",
            );
        }
        if usize::try_from(self.max_body).is_err() {
            return refuse("limits.max_body", "does not fit in memory on this platform");
        }
        Ok(())
    }
}

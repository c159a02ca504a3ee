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

//! The crate's one error type.

use crate::codes::ErrorCode;
use crate::frames::ErrorFrame;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest peer-supplied text kept inside an error, so a hostile frame cannot bloat logs.
const MAX_DETAIL_CHARS: usize = 200;

/// Everything that can go wrong reading, writing, encoding or decoding a frame.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The length prefix announced more than the configured maximum (checked before any
    /// buffer is grown), or an outgoing payload would exceed it.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Announced (or encoded) payload length.
        len: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The length prefix was zero; every frame carries at least one byte of payload.
    #[error("zero-length frame")]
    EmptyFrame,
    /// The payload is not a valid frame in the connection's encoding (bad JSON or MessagePack,
    /// not a map, missing `type`, or a field of the wrong shape).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The payload is well-formed but its `type` names no frame this version knows.
    #[error("unknown frame type `{0}`")]
    UnknownFrameType(String),
    /// The first payload byte of a connection is neither `{` nor a MessagePack map marker.
    #[error("cannot tell the encoding from first payload byte 0x{0:02x}")]
    UnknownEncoding(u8),
    /// A frame could not be encoded (only possible for values this crate cannot represent).
    #[error("cannot encode frame: {0}")]
    Encode(String),
    /// The underlying stream failed (including EOF in the middle of a frame).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Builds [`Error::Malformed`] from a decoder message, truncated to a bounded length.
    pub(crate) fn malformed(detail: impl std::fmt::Display) -> Self {
        Error::Malformed(bounded(detail.to_string()))
    }

    /// Builds [`Error::UnknownFrameType`], truncating the peer's type name.
    pub(crate) fn unknown_type(name: &str) -> Self {
        Error::UnknownFrameType(bounded(name.to_owned()))
    }

    /// The `error.code` the daemon sends before closing a connection that caused this error, or
    /// `None` when the stream itself failed and nothing can be sent.
    pub fn wire_code(&self) -> Option<ErrorCode> {
        match self {
            Error::FrameTooLarge { .. } => Some(ErrorCode::FrameTooLarge),
            Error::EmptyFrame
            | Error::Malformed(_)
            | Error::UnknownFrameType(_)
            | Error::UnknownEncoding(_) => Some(ErrorCode::MalformedFrame),
            Error::Encode(_) | Error::Io(_) => None,
        }
    }

    /// The protocol-level `error` frame (no `request_id`) to send before closing, if any.
    pub fn to_error_frame(&self) -> Option<ErrorFrame> {
        let code = self.wire_code()?;
        let details = match self {
            Error::FrameTooLarge { len, max } => {
                Some(serde_json::json!({ "size": len, "max": max }))
            }
            _ => None,
        };
        Some(ErrorFrame {
            request_id: None,
            code,
            message: self.to_string(),
            details,
        })
    }
}

fn bounded(mut s: String) -> String {
    if let Some((cut, _)) = s.char_indices().nth(MAX_DETAIL_CHARS) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

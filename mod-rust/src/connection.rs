//! Frames over one gateway connection (PROTOCOL.md §2, §3): a reader whose partial frames
//! live in its own buffer, so [`FrameReader::read`] is cancel-safe inside `select!`, and a
//! writer that sends one whole frame per call.

use std::io;

use bytes::BytesMut;
use runtime_protocol::{Encoding, Frame, FrameCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio_util::codec::{Decoder, Encoder};

/// Initial capacity of the read buffer; frames larger than this grow it as they arrive.
const READ_BUFFER: usize = 8 * 1024;

/// Why a connection could not carry a frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// The socket failed, or closed in the middle of a frame.
    #[error("gateway socket")]
    Io(#[from] io::Error),
    /// The daemon sent bytes that are not a frame in this connection's encoding.
    #[error("undecodable frame from the daemon")]
    Decode(#[source] runtime_protocol::Error),
    /// A frame of ours could not be encoded (only for values serde cannot represent).
    #[error("cannot encode a frame")]
    Encode(#[source] runtime_protocol::Error),
}

/// Splits a connected socket into its reading and writing ends, both speaking `encoding`.
pub(crate) fn split(stream: UnixStream, encoding: Encoding) -> (FrameReader, FrameWriter) {
    let (read, write) = stream.into_split();
    let reader = FrameReader {
        half: read,
        buf: BytesMut::with_capacity(READ_BUFFER),
        codec: FrameCodec::new(encoding),
    };
    let writer = FrameWriter {
        half: write,
        buf: BytesMut::new(),
        codec: FrameCodec::new(encoding),
    };
    (reader, writer)
}

/// The reading end of a connection.
#[derive(Debug)]
pub(crate) struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
    codec: FrameCodec,
}

impl FrameReader {
    /// The next frame; `Ok(None)` when the daemon closed the connection between frames.
    ///
    /// Cancel-safe: bytes already read stay in the buffer for the next call.
    pub(crate) async fn read(&mut self) -> Result<Option<Frame>, WireError> {
        loop {
            // The length prefix is checked against the limit before the buffer grows.
            if let Some(frame) = self
                .codec
                .decode(&mut self.buf)
                .map_err(WireError::Decode)?
            {
                return Ok(Some(frame));
            }
            if self.half.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }
}

/// The writing end of a connection.
#[derive(Debug)]
pub(crate) struct FrameWriter {
    half: OwnedWriteHalf,
    buf: BytesMut,
    codec: FrameCodec,
}

impl FrameWriter {
    /// Writes one frame.
    pub(crate) async fn write(&mut self, frame: &Frame) -> Result<(), WireError> {
        self.buf.clear();
        self.codec
            .encode(frame, &mut self.buf)
            .map_err(WireError::Encode)?;
        self.half.write_all(&self.buf).await?;
        Ok(())
    }
}

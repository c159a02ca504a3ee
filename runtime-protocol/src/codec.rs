//! Length-prefixed framing (PROTOCOL.md §2) as a tokio codec, plus the sans-IO length check the
//! blocking API shares.
//!
//! The length prefix is validated (non-zero, at most the limit) before the read buffer is grown,
//! so a peer announcing 4 GiB costs nothing but the error.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::constants::{DEFAULT_MAX_FRAME_LEN, LENGTH_PREFIX_LEN};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::frames::Frame;

/// Validates an announced payload length against `max`: zero is [`Error::EmptyFrame`], more
/// than `max` is [`Error::FrameTooLarge`].
pub(crate) fn check_len(len: u32, max: usize) -> Result<usize> {
    if len == 0 {
        return Err(Error::EmptyFrame);
    }
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::FrameTooLarge {
            len: u64::from(len),
            max,
        }),
    }
}

/// Encodes `frame` as a complete frame: length prefix, then payload.
pub(crate) fn frame_bytes(frame: &Frame, encoding: Encoding, max: usize) -> Result<Vec<u8>> {
    let mut out = vec![0; LENGTH_PREFIX_LEN];
    encoding.encode_into(frame, &mut out)?;
    let len = prefix_for(out.len() - LENGTH_PREFIX_LEN, max)?;
    out[..LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

fn prefix_for(payload_len: usize, max: usize) -> Result<u32> {
    match u32::try_from(payload_len) {
        Ok(n) if payload_len <= max => Ok(n),
        _ => Err(Error::FrameTooLarge {
            len: payload_len as u64,
            max,
        }),
    }
}

/// Tokio codec for gateway frames: `Decoder<Item = Frame>` and `Encoder<Frame>`.
///
/// Created either with a fixed [`Encoding`] ([`FrameCodec::new`]) or in sniffing mode
/// ([`FrameCodec::sniffing`]), where the first decoded payload's first byte fixes the encoding
/// for the rest of the connection; [`FrameCodec::encoding`] reports it. Until then, frames are
/// encoded as JSON (so an error about an unrecognisable first frame is still readable).
#[derive(Debug, Clone)]
pub struct FrameCodec {
    encoding: Option<Encoding>,
    max_frame_len: usize,
}

impl FrameCodec {
    /// A codec that reads and writes `encoding`, with the default 16 MiB limit.
    pub fn new(encoding: Encoding) -> Self {
        FrameCodec {
            encoding: Some(encoding),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// A codec that learns the encoding from the first frame it decodes (the daemon's side).
    pub fn sniffing() -> Self {
        FrameCodec {
            encoding: None,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// Sets the largest payload accepted or sent, in bytes (length prefix excluded).
    pub fn with_max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// The connection's encoding, or `None` while a sniffing codec has not decoded a frame yet.
    pub fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }

    /// The largest payload accepted or sent, in bytes.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    fn next_payload(&self, src: &mut BytesMut) -> Result<Option<BytesMut>> {
        if src.len() < LENGTH_PREFIX_LEN {
            return Ok(None);
        }
        let announced = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        // Checked before `reserve`: the buffer only grows for a frame we are willing to take.
        let len = check_len(announced, self.max_frame_len)?;
        let total = LENGTH_PREFIX_LEN + len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX_LEN);
        Ok(Some(src.split_to(len)))
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>> {
        let Some(payload) = self.next_payload(src)? else {
            return Ok(None);
        };
        let encoding = match self.encoding {
            Some(e) => e,
            None => {
                // `check_len` rejected zero, so the payload has a first byte.
                let first = payload.first().copied().ok_or(Error::EmptyFrame)?;
                let e = Encoding::sniff(first).ok_or(Error::UnknownEncoding(first))?;
                self.encoding = Some(e);
                e
            }
        };
        encoding.decode(&payload).map(Some)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = Error;

    /// Encodes straight into `dst` behind a placeholder prefix, filled in once the payload's
    /// length is known; on failure `dst` is left as it was.
    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<()> {
        let start = dst.len();
        dst.put_u32(0);
        let encoding = self.encoding.unwrap_or(Encoding::Json);
        let written = encoding.encode_into(frame, (&mut *dst).writer());
        let payload_len = dst.len() - start - LENGTH_PREFIX_LEN;
        match written.and_then(|()| prefix_for(payload_len, self.max_frame_len)) {
            Ok(len) => {
                dst[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            Err(error) => {
                dst.truncate(start);
                Err(error)
            }
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<()> {
        <Self as Encoder<&Frame>>::encode(self, &frame, dst)
    }
}

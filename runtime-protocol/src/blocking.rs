//! Blocking reads and writes over any `std::io` stream, for runtimes that serve one request at
//! a time on a plain thread (PROTOCOL.md §2, §3).

use std::io::{ErrorKind, Read, Write};

use crate::codec::{check_len, frame_bytes};
use crate::constants::LENGTH_PREFIX_LEN;
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::frames::Frame;

/// Largest up-front buffer for a payload; bigger payloads grow as their bytes actually arrive.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 * 1024;

/// Writes one frame (length prefix and payload) with a single `write_all`, then flushes.
///
/// Only the 32-bit prefix bounds the size here; the peer enforces its own limit on receipt.
pub fn write_frame<W: Write>(w: &mut W, frame: &Frame, encoding: Encoding) -> Result<()> {
    let bytes = frame_bytes(frame, encoding, u32::MAX as usize)?;
    w.write_all(&bytes)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame, recognising its encoding from the payload's first byte.
///
/// Returns `Ok(None)` when the stream ends cleanly before a length prefix; EOF anywhere inside
/// a frame is an [`Error::Io`] of kind `UnexpectedEof`. The announced length is checked against
/// `max_len` before any payload byte is read or buffered.
pub fn read_frame<R: Read>(r: &mut R, max_len: usize) -> Result<Option<(Frame, Encoding)>> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    if !read_prefix(r, &mut prefix)? {
        return Ok(None);
    }
    let len = check_len(u32::from_be_bytes(prefix), max_len)?;

    let mut payload = Vec::with_capacity(len.min(INITIAL_PAYLOAD_CAPACITY));
    r.by_ref().take(len as u64).read_to_end(&mut payload)?;
    if payload.len() != len {
        return Err(Error::Io(ErrorKind::UnexpectedEof.into()));
    }
    let first = payload.first().copied().ok_or(Error::EmptyFrame)?;
    let encoding = Encoding::sniff(first).ok_or(Error::UnknownEncoding(first))?;
    let frame = encoding.decode(&payload)?;
    Ok(Some((frame, encoding)))
}

/// Fills `prefix`; `Ok(false)` on EOF before its first byte.
fn read_prefix<R: Read>(r: &mut R, prefix: &mut [u8; LENGTH_PREFIX_LEN]) -> Result<bool> {
    let mut filled = 0;
    while filled < prefix.len() {
        match r.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(Error::Io(ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(true)
}

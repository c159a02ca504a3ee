//! The blocking API: EOF handling, limits, and a real Unix socket.

use std::io::{self, Cursor, Read};
use std::os::unix::net::UnixStream;

use runtime_protocol::*;

use crate::support::all_frames;

/// Serves `data`, then fails with `WouldBlock` instead of ending, so a reader that tries to
/// read past it is caught rather than blocked.
struct NoMoreData {
    data: Vec<u8>,
    pos: usize,
}

impl Read for NoMoreData {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_header_announcing_4_gib_fails_before_any_payload_is_read() {
    let mut r = NoMoreData {
        data: vec![0xff, 0xff, 0xff, 0xff, b'{', b'"', b't', b'y'],
        pos: 0,
    };
    let err = read_frame(&mut r, DEFAULT_MAX_FRAME_LEN).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FrameTooLarge {
                len: 0xffff_ffff,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(r.pos, LENGTH_PREFIX_LEN, "read past the length prefix");
}

#[test]
fn a_zero_length_frame_is_malformed() {
    let err = read_frame(&mut Cursor::new([0u8, 0, 0, 0]), 1024).unwrap_err();
    assert!(matches!(err, Error::EmptyFrame), "{err}");
}

#[test]
fn a_clean_eof_before_a_frame_is_none() {
    assert!(read_frame(&mut Cursor::new([]), 1024).unwrap().is_none());
}

#[test]
fn eof_inside_a_prefix_or_a_payload_is_an_unexpected_eof() {
    for data in [vec![0u8, 0], vec![0, 0, 0, 9, b'{', b'}']] {
        let err = read_frame(&mut Cursor::new(data), 1024).unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{err}"
        );
    }
}

#[test]
fn a_payload_starting_with_neither_encoding_is_rejected() {
    let err = read_frame(&mut Cursor::new([0u8, 0, 0, 1, b' ']), 1024).unwrap_err();
    assert!(matches!(err, Error::UnknownEncoding(b' ')), "{err}");
}

#[test]
fn frames_cross_a_unix_socket_in_both_encodings() {
    let (mut runtime, mut daemon) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        for (i, frame) in all_frames().iter().enumerate() {
            let enc = if i % 2 == 0 {
                Encoding::Json
            } else {
                Encoding::MessagePack
            };
            write_frame(&mut runtime, frame, enc).unwrap();
        }
        // Dropping the stream closes it: the reader sees a clean EOF.
    });
    for (i, frame) in all_frames().into_iter().enumerate() {
        let (got, enc) = read_frame(&mut daemon, DEFAULT_MAX_FRAME_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(got, frame);
        assert_eq!(
            enc,
            if i % 2 == 0 {
                Encoding::Json
            } else {
                Encoding::MessagePack
            }
        );
    }
    assert!(read_frame(&mut daemon, DEFAULT_MAX_FRAME_LEN)
        .unwrap()
        .is_none());
    writer.join().unwrap();
}

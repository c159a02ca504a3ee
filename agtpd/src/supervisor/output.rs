//! A runtime's stdout and stderr, one log event per line under the `agtpd::runtime`
//! target, tagged with pool and pid. A line longer than [`MAX_LINE`] is cut there (the
//! rest of it is skipped), so a runtime cannot make agtpd buffer without bound.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

/// The longest line kept, in bytes.
pub(super) const MAX_LINE: usize = 8 * 1024;

/// Spawns one task per output stream of `child`; each ends at the stream's end.
pub(super) fn forward(child: &mut Child, pool: &str, pid: u32) {
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(lines(stdout, pool.to_owned(), pid, "stdout"));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(lines(stderr, pool.to_owned(), pid, "stderr"));
    }
}

async fn lines(stream: impl AsyncRead + Unpin, pool: String, pid: u32, name: &'static str) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut cut = false;
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let (chunk, end) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (&buf[..at], Some(at + 1)),
            None => (buf, None),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        cut |= chunk.len() > room;
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = end.unwrap_or(buf.len());
        reader.consume(used);
        if end.is_some() {
            emit(&pool, pid, name, &line, cut);
            line.clear();
            cut = false;
        }
    }
    if !line.is_empty() {
        emit(&pool, pid, name, &line, cut);
    }
}

fn emit(pool: &str, pid: u32, stream: &str, line: &[u8], cut: bool) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    match cut {
        false => tracing::info!(target: "agtpd::runtime", pool, pid, stream, "{text}"),
        true => tracing::info!(target: "agtpd::runtime", pool, pid, stream, cut, "{text}"),
    }
}

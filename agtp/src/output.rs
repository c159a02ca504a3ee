//! How a response is printed: `-i` adds the head; a terminal gets JSON pretty-printed,
//! a pipe gets the body byte for byte.

use agtp_core::{Response, VERSION};

/// The status line and headers as `-i` prints them, ending with the blank line.
/// Content-Length is framing the parser consumed; it is shown again from the body.
pub(crate) fn head(response: &Response) -> String {
    let mut out = format!("{VERSION} {}\n", response.status);
    for (name, value) in response.headers.iter() {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    out.push_str(&format!("Content-Length: {}\n\n", response.body.len()));
    out
}

/// The body for a terminal: pretty JSON when it is JSON, otherwise as sent; either way
/// ending in a newline so the prompt starts on its own line.
pub(crate) fn body_for_terminal(body: &[u8]) -> Vec<u8> {
    let mut out = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => serde_json::to_vec_pretty(&value).unwrap_or_else(|_| body.to_vec()),
        Err(_) => body.to_vec(),
    };
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests;

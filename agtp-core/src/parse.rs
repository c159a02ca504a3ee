//! The sans-IO parser: feed it the bytes received so far, it answers "need more",
//! a complete head, or a [`WireError`]. It never reads a socket and never allocates
//! past the configured [`Limits`].
//!
//! A head is parsed once it is complete; until then [`RequestParser`] only scans for the
//! blank line that ends it, remembering how far it got, so a client dripping one byte at a
//! time costs linear work, not quadratic.

use bytes::Bytes;

use crate::{Headers, Limits, Request, Response, Status, WireError, VERSION};

/// A parsed head: the message (with an empty body), the announced body length, and
/// how many bytes of the buffer the head took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<T> {
    /// The message, body still empty.
    pub message: T,
    /// The body length announced by Content-Length (0 when absent).
    pub content_length: u64,
    /// Bytes of input the head occupied, final blank line included (and an ignored empty
    /// line before it).
    pub len: usize,
}

/// Incremental parser for request heads on one connection.
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: Limits,
    scan: HeadScan,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            scan: HeadScan::default(),
        }
    }

    /// Parses the head at the start of `buf`. `Ok(None)` means the head is not complete
    /// yet; call again with the same bytes plus more. After `Ok(Some(_))` the parser is
    /// ready for the next head, which starts at `head.len` plus the body.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<Head<Request>>, WireError> {
        // One empty line before the request line is ignored (RFC 9112 §2.2): some clients
        // send a CRLF after a body. The first bytes never change between calls on one
        // buffer, so neither does `skip`.
        let skip = match buf {
            [b'\r', b'\n', ..] => 2,
            [b'\r'] => return Ok(None),
            _ => 0,
        };
        let buf = &buf[skip..];
        let Some(len) = self.scan.advance(buf, &self.limits)? else {
            return Ok(None);
        };
        self.scan = HeadScan::default();
        let head = &buf[..len];
        let (line, rest) = split_line(head)?;
        let mut request = parse_request_line(line)?;
        let (headers, content_length) = parse_fields(rest, &self.limits)?;
        if content_length > self.limits.max_body {
            return Err(WireError::BodyTooLarge {
                length: content_length,
                limit: self.limits.max_body,
            });
        }
        request.headers = headers;
        Ok(Some(Head {
            message: request,
            content_length,
            len: skip + len,
        }))
    }
}

/// Parses one complete request (head and body) from the start of `buf`, returning it and
/// the bytes it took, or `Ok(None)` when `buf` holds less than a whole request.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<(Request, usize)>, WireError> {
    let Some(head) = RequestParser::new(*limits).parse(buf)? else {
        return Ok(None);
    };
    Ok(take_body(buf, head).map(|(mut request, body, used)| {
        request.body = body;
        (request, used)
    }))
}

/// Parses one complete response from the start of `buf`, as [`parse_request`] does.
/// `limits.max_body` bounds the body a response may announce.
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Option<(Response, usize)>, WireError> {
    let Some(head) = parse_response_head(buf, limits)? else {
        return Ok(None);
    };
    Ok(take_body(buf, head).map(|(mut response, body, used)| {
        response.body = body;
        (response, used)
    }))
}

/// Parses the head of a response at the start of `buf`.
pub fn parse_response_head(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<Head<Response>>, WireError> {
    let Some(len) = HeadScan::default().advance(buf, limits)? else {
        return Ok(None);
    };
    let (line, rest) = split_line(&buf[..len])?;
    let status = parse_status_line(line)?;
    let (headers, content_length) = parse_fields(rest, limits)?;
    if content_length > limits.max_body {
        return Err(WireError::BodyTooLarge {
            length: content_length,
            limit: limits.max_body,
        });
    }
    let mut response = Response::new(status);
    response.headers = headers;
    Ok(Some(Head {
        message: response,
        content_length,
        len,
    }))
}

fn take_body<T>(buf: &[u8], head: Head<T>) -> Option<(T, Bytes, usize)> {
    // content_length <= max_body, which fits in memory by configuration.
    let body_len = usize::try_from(head.content_length).ok()?;
    let end = head.len.checked_add(body_len)?;
    let body = buf.get(head.len..end)?;
    Some((head.message, Bytes::copy_from_slice(body), end))
}

/// Where the scan for the end of a head stands.
#[derive(Debug, Clone, Copy, Default)]
struct HeadScan {
    /// Bytes already scanned without finding the blank line.
    scanned: usize,
    /// End of the start line (after its LF), once seen.
    line_end: Option<usize>,
}

impl HeadScan {
    /// Returns the length of the complete head, `None` if it is not complete yet, or the
    /// limit it broke.
    fn advance(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, WireError> {
        let mut i = self.scanned;
        while i < buf.len() {
            if buf[i] == b'\n' {
                match self.line_end {
                    None => self.line_end = Some(i + 1),
                    // A line that is empty (LF right after the previous LF, or CR LF)
                    // ends the head.
                    Some(_) if is_blank_line_end(buf, i) => return Ok(Some(i + 1)),
                    Some(_) => {}
                }
            }
            i += 1;
            self.check_limits(i, limits)?;
        }
        self.scanned = i;
        Ok(None)
    }

    fn check_limits(&self, scanned: usize, limits: &Limits) -> Result<(), WireError> {
        match self.line_end {
            None if scanned >= limits.max_request_line => Err(WireError::RequestLineTooLong {
                limit: limits.max_request_line,
            }),
            Some(line_end) if scanned - line_end > limits.max_header_bytes => {
                Err(WireError::HeadersTooLarge {
                    limit: limits.max_header_bytes,
                })
            }
            _ => Ok(()),
        }
    }
}

/// Whether the LF at `i` closes an empty line (`\n\n` or `\n\r\n`).
fn is_blank_line_end(buf: &[u8], i: usize) -> bool {
    (i >= 1 && buf[i - 1] == b'\n') || (i >= 2 && buf[i - 1] == b'\r' && buf[i - 2] == b'\n')
}

/// Splits off the first line, which must end in CRLF and hold no other CR.
fn split_line(buf: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let lf = buf
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(WireError::BareLineEnding)?;
    let line = buf[..lf]
        .strip_suffix(b"\r")
        .ok_or(WireError::BareLineEnding)?;
    if line.contains(&b'\r') {
        return Err(WireError::BareLineEnding);
    }
    Ok((line, &buf[lf + 1..]))
}

fn parse_request_line(line: &[u8]) -> Result<Request, WireError> {
    let line = std::str::from_utf8(line)
        .map_err(|_| WireError::MalformedRequestLine("the request line must be ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() == 3 && parts[2].starts_with("HTTP/") {
        return Err(WireError::HttpRequest);
    }
    if parts.iter().any(|p| p.is_empty()) || !(2..=3).contains(&parts.len()) {
        return Err(WireError::MalformedRequestLine(
            "expected `AGTP/1.0 METHOD` or `AGTP/1.0 METHOD /path`, separated by single spaces",
        ));
    }
    check_version(
        parts[0],
        WireError::MalformedRequestLine("expected `AGTP/1.0 METHOD [PATH]`"),
    )?;
    if !parts[1].bytes().all(is_tchar) {
        return Err(WireError::MalformedRequestLine(
            "the method must be a token",
        ));
    }
    let mut request = Request::new(parts[1].to_ascii_uppercase(), None);
    if let Some(&target) = parts.get(2) {
        if target.contains('#') {
            return Err(WireError::Fragment);
        }
        if !target.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(WireError::MalformedRequestLine(
                "the path must be visible ASCII; percent-encode anything else",
            ));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path.is_empty() {
            return Err(WireError::MalformedRequestLine("the path is empty"));
        }
        request.path = Some(path.to_owned());
        request.query = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    }
    Ok(request)
}

fn parse_status_line(line: &[u8]) -> Result<Status, WireError> {
    let line = std::str::from_utf8(line)
        .map_err(|_| WireError::MalformedStatusLine("the status line must be UTF-8"))?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    check_version(
        version,
        WireError::MalformedStatusLine("expected `AGTP/1.0 CODE TEXT`"),
    )?;
    let code = parts.next().unwrap_or_default();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WireError::MalformedStatusLine(
            "the status code must be three digits",
        ));
    }
    code.parse()
        .ok()
        .and_then(Status::from_code)
        .ok_or(WireError::MalformedStatusLine(
            "the status code must be three digits",
        ))
}

fn check_version(version: &str, otherwise: WireError) -> Result<(), WireError> {
    if version == VERSION {
        Ok(())
    } else if version.to_ascii_uppercase().starts_with("AGTP/") {
        Err(WireError::UnsupportedVersion(version.to_owned()))
    } else {
        Err(otherwise)
    }
}

/// Parses the header lines after the start line, up to and including the blank line.
/// Content-Length is validated and removed from the list; it is framing, carried by the
/// body's length.
fn parse_fields(mut rest: &[u8], limits: &Limits) -> Result<(Headers, u64), WireError> {
    let mut headers = Headers::new();
    let mut content_length: Option<u64> = None;
    loop {
        let (line, tail) = split_line(rest)?;
        rest = tail;
        if line.is_empty() {
            break;
        }
        if headers.len() == limits.max_headers {
            return Err(WireError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        let (name, value) = parse_field(line)?;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(WireError::TransferEncoding);
        }
        if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(&value)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(WireError::ConflictingContentLength);
            }
            content_length = Some(length);
            continue;
        }
        headers.append(name, value);
    }
    Ok((headers, content_length.unwrap_or(0)))
}

fn parse_field(line: &[u8]) -> Result<(String, String), WireError> {
    let lossy = || String::from_utf8_lossy(line).into_owned();
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(WireError::ObsFold);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| WireError::InvalidHeaderName(lossy()))?;
    let name = &line[..colon];
    if name.ends_with(b" ") || name.ends_with(b"\t") {
        let name = String::from_utf8_lossy(name).trim_end().to_owned();
        return Err(WireError::SpaceBeforeColon(name));
    }
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return Err(WireError::InvalidHeaderName(lossy()));
    }
    // Both are ASCII tokens by now.
    let name = String::from_utf8_lossy(name).into_owned();
    let value = line[colon + 1..].trim_ascii();
    let valid = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
    let value = std::str::from_utf8(value)
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| WireError::InvalidHeaderValue(name.clone()))?;
    Ok((name, value.to_owned()))
}

/// Content-Length is one or more decimal digits, or a comma-separated list of the same
/// number (RFC 9110 section 8.6). A value too large for u64 saturates, so it fails the
/// body limit rather than parsing as a smaller number.
fn parse_content_length(value: &str) -> Result<u64, WireError> {
    let invalid = || WireError::InvalidContentLength(value.to_owned());
    let mut length = None;
    for item in value.split(',') {
        let item = item.trim_matches([' ', '\t']);
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let n = item.parse::<u64>().unwrap_or(u64::MAX);
        if length.is_some_and(|seen| seen != n) {
            return Err(WireError::ConflictingContentLength);
        }
        length = Some(n);
    }
    length.ok_or_else(invalid)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;

//! The encoder. It writes exactly one Content-Length, computed from the body; any
//! Content-Length among the headers is ignored.

use bytes::{BufMut, BytesMut};

use crate::{Request, Response, VERSION};

/// Appends `request` to `out`. Content-Length is written when the body is not empty.
pub fn encode_request(request: &Request, out: &mut BytesMut) {
    out.reserve(64 + request.body.len());
    out.put_slice(VERSION.as_bytes());
    out.put_u8(b' ');
    out.put_slice(request.method.as_bytes());
    if let Some(path) = &request.path {
        out.put_u8(b' ');
        out.put_slice(path.as_bytes());
        if !request.query.is_empty() {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&request.query)
                .finish();
            out.put_u8(b'?');
            out.put_slice(query.as_bytes());
        }
    }
    out.put_slice(b"\r\n");
    put_fields(
        out,
        request.headers.iter(),
        request.body.len(),
        !request.body.is_empty(),
    );
    out.put_slice(&request.body);
}

/// Appends `response` to `out`. Content-Length is always written, 0 included, so the
/// peer never has to guess where the message ends.
pub fn encode_response(response: &Response, out: &mut BytesMut) {
    out.reserve(128 + response.body.len());
    out.put_slice(VERSION.as_bytes());
    out.put_u8(b' ');
    out.put_slice(response.status.code().to_string().as_bytes());
    out.put_u8(b' ');
    out.put_slice(response.status.reason().as_bytes());
    out.put_slice(b"\r\n");
    put_fields(out, response.headers.iter(), response.body.len(), true);
    out.put_slice(&response.body);
}

fn put_fields<'a>(
    out: &mut BytesMut,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body_len: usize,
    with_length: bool,
) {
    for (name, value) in headers.filter(|(n, _)| !n.eq_ignore_ascii_case("content-length")) {
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    if with_length {
        out.put_slice(b"Content-Length: ");
        out.put_slice(body_len.to_string().as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

//! The AGTP request parser (and the response parser the client and mod-proxy use): any
//! bytes give a head, "need more" or a wire error, never a panic; fed in two pieces the
//! parser reaches the same head as from the whole buffer; a head never claims more bytes
//! than it was given.
#![no_main]

use agtp_core::parse::{parse_response, RequestParser};
use agtp_core::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_request_line: 256,
        max_header_bytes: 1024,
        max_headers: 16,
        ..Limits::default()
    };
    let whole = RequestParser::new(limits).parse(data);
    if let Ok(Some(head)) = &whole {
        assert!(head.len <= data.len());
    }
    // Incremental: a prefix first (usually "need more"), then everything.
    let cut = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut parser = RequestParser::new(limits);
    let early = parser.parse(&data[..cut]);
    if let Ok(None) = early {
        let late = parser.parse(data);
        assert_eq!(
            late.as_ref().ok().map(|h| h.as_ref().map(|h| h.len)),
            whole.as_ref().ok().map(|h| h.as_ref().map(|h| h.len)),
            "a head parsed in two pieces differs from the whole"
        );
    }
    if let Ok(Some((_, len))) = parse_response(data, &limits) {
        assert!(len <= data.len());
    }
});

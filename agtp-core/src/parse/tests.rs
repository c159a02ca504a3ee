//! Table-driven cases for the parser, plus property tests.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::encode::{encode_request, encode_response};

fn parse(raw: &str) -> Result<Option<(Request, usize)>, WireError> {
    parse_request(raw.as_bytes(), &Limits::default())
}

fn parse_ok(raw: &str) -> Request {
    match parse(raw) {
        Ok(Some((request, used))) => {
            assert_eq!(used, raw.len(), "whole input consumed for {raw:?}");
            request
        }
        other => panic!("{raw:?} should parse, got {other:?}"),
    }
}

fn parse_err(raw: &str) -> WireError {
    match parse(raw) {
        Err(e) => e,
        other => panic!("{raw:?} should fail, got {other:?}"),
    }
}

/// Raw request, expected method, path and query pairs.
type LineCase<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

#[test]
fn one_empty_line_before_the_request_line_is_ignored_and_two_are_not() {
    assert_eq!(
        parse_ok("\r\nAGTP/1.0 QUERY /a\r\n\r\n").path.as_deref(),
        Some("/a")
    );
    // A bare LF is no more an empty line here than at the end of a head.
    assert!(parse("\nAGTP/1.0 QUERY /a\r\n\r\n").is_err());
    assert!(
        parse("\r").unwrap().is_none(),
        "a lone CR may still become CRLF"
    );
    assert!(parse("\r\n").unwrap().is_none());
    assert!(parse("\r\n\r\nAGTP/1.0 QUERY /a\r\n\r\n").is_err());
    // Fed a byte at a time, as a slow client sends it.
    let raw = b"\r\nAGTP/1.0 QUERY /a\r\nContent-Length: 0\r\n\r\n";
    let mut parser = RequestParser::new(Limits::default());
    for end in 1..raw.len() {
        assert!(parser.parse(&raw[..end]).unwrap().is_none(), "{end}");
    }
    assert_eq!(parser.parse(raw).unwrap().unwrap().len, raw.len());
}

#[test]
fn valid_request_lines_parse() {
    let cases: &[LineCase<'_>] = &[
        ("AGTP/1.0 DISCOVER\r\n\r\n", "DISCOVER", None, &[]),
        (
            "AGTP/1.0 query /rooms\r\n\r\n",
            "QUERY",
            Some("/rooms"),
            &[],
        ),
        (
            "AGTP/1.0 Book /rooms/42\r\n\r\n",
            "BOOK",
            Some("/rooms/42"),
            &[],
        ),
        (
            "AGTP/1.0 SCHEDULE /meeting?date=050526&attendees=alice%2Cbob\r\n\r\n",
            "SCHEDULE",
            Some("/meeting"),
            &[("date", "050526"), ("attendees", "alice,bob")],
        ),
        (
            "AGTP/1.0 QUERY /a?x=1&x=2\r\n\r\n",
            "QUERY",
            Some("/a"),
            &[("x", "1"), ("x", "2")],
        ),
        (
            "AGTP/1.0 QUERY /a?q=caf%C3%A9+bar\r\n\r\n",
            "QUERY",
            Some("/a"),
            &[("q", "café bar")],
        ),
        ("AGTP/1.0 QUERY /a?\r\n\r\n", "QUERY", Some("/a"), &[]),
        (
            "AGTP/1.0 QUERY relative\r\n\r\n",
            "QUERY",
            Some("relative"),
            &[],
        ),
    ];
    for (raw, method, path, query) in cases {
        let request = parse_ok(raw);
        assert_eq!(request.method, *method, "{raw:?}");
        assert_eq!(request.path.as_deref(), *path, "{raw:?}");
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(request.query, query, "{raw:?}");
    }
}

#[test]
fn invalid_request_lines_are_refused_with_a_precise_error() {
    let cases: &[(&str, &str)] = &[
        ("AGTP/2.0 QUERY /a\r\n\r\n", "unsupported-version"),
        ("agtp/1.1 QUERY /a\r\n\r\n", "unsupported-version"),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not-agtp"),
        ("PRI * HTTP/2.0\r\n\r\n", "not-agtp"),
        ("QUERY /a AGTP/1.0\r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0\r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0  QUERY /a\r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0 QUERY /a \r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0 QUERY /a extra\r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0 QU(ERY /a\r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0 QUERY ?x=1\r\n\r\n", "malformed-request-line"),
        (
            "AGTP/1.0 QUERY /caf\u{e9}\r\n\r\n",
            "malformed-request-line",
        ),
        ("AGTP/1.0 QUERY /a\tb\r\n\r\n", "malformed-request-line"),
        ("AGTP/1.0 QUERY /a#frag\r\n\r\n", "fragment-not-allowed"),
        ("AGTP/1.0 QUERY /a?x=1#frag\r\n\r\n", "fragment-not-allowed"),
        ("AGTP/1.0 QUERY /a\n\r\n", "bare-line-ending"),
        ("AGTP/1.0 QUERY /a\r\n\n", "bare-line-ending"),
        ("AGTP/1.0 QUERY\r/a\r\n\r\n", "bare-line-ending"),
        (
            "\r\n\r\nAGTP/1.0 QUERY /a\r\n\r\n",
            "malformed-request-line",
        ),
    ];
    for (raw, code) in cases {
        assert_eq!(parse_err(raw).code(), *code, "{raw:?}");
    }
}

#[test]
fn an_http_request_is_told_this_is_an_agtp_endpoint() {
    let error = parse_err("GET / HTTP/1.1\r\n\r\n");
    assert_eq!(error.status(), Status::BAD_REQUEST);
    assert!(error.to_string().contains("AGTP endpoint"));
}

#[test]
fn valid_headers_parse_and_keep_their_case_and_order() {
    let request = parse_ok(
        "AGTP/1.0 QUERY /a\r\nAgent-ID: a1\r\nx-empty:\r\nTask-ID:\t t-1 \r\nX-Utf8: caf\u{e9}\r\nAgent-ID: a2\r\n\r\n",
    );
    let fields: Vec<(&str, &str)> = request.headers.iter().collect();
    assert_eq!(
        fields,
        vec![
            ("Agent-ID", "a1"),
            ("x-empty", ""),
            ("Task-ID", "t-1"),
            ("X-Utf8", "caf\u{e9}"),
            ("Agent-ID", "a2")
        ]
    );
    assert_eq!(request.headers.get("agent-id"), Some("a1"));
}

#[test]
fn invalid_headers_are_refused_with_a_precise_error() {
    let cases: &[(&str, &str)] = &[
        (
            "AGTP/1.0 QUERY /a\r\nAgent-ID: a\r\n continued\r\n\r\n",
            "obsolete-line-folding",
        ),
        (
            "AGTP/1.0 QUERY /a\r\n\tAgent-ID: a\r\n\r\n",
            "obsolete-line-folding",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nAgent-ID : a\r\n\r\n",
            "space-before-colon",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nAgent-ID\t: a\r\n\r\n",
            "space-before-colon",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nAgent ID: a\r\n\r\n",
            "invalid-header-name",
        ),
        ("AGTP/1.0 QUERY /a\r\n: a\r\n\r\n", "invalid-header-name"),
        (
            "AGTP/1.0 QUERY /a\r\nno-colon\r\n\r\n",
            "invalid-header-name",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nX-Nul: a\0b\r\n\r\n",
            "invalid-header-value",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nX-Esc: a\x1bb\r\n\r\n",
            "invalid-header-value",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nX-Cr: a\rb\r\n\r\n",
            "bare-line-ending",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nX-Lf: a\nb: c\r\n\r\n",
            "bare-line-ending",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "transfer-encoding-not-supported",
        ),
        (
            "AGTP/1.0 QUERY /a\r\ntransfer-encoding: identity\r\n\r\n",
            "transfer-encoding-not-supported",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: -1\r\n\r\n",
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: +1\r\n\r\n",
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 0x10\r\n\r\n",
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 1.0\r\n\r\n",
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length:\r\n\r\n",
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 1 2\r\n\r\n",
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "conflicting-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 1, 2\r\n\r\nab",
            "conflicting-content-length",
        ),
    ];
    for (raw, code) in cases {
        assert_eq!(parse_err(raw).code(), *code, "{raw:?}");
    }
}

#[test]
fn equal_content_length_values_are_accepted_once() {
    let request =
        parse_ok("AGTP/1.0 QUERY /a\r\nContent-Length: 2\r\ncontent-length: 2, 2\r\n\r\nab");
    assert_eq!(&request.body[..], b"ab");
    assert!(!request.headers.contains("content-length"));
}

#[test]
fn a_partial_message_asks_for_more() {
    let full = "AGTP/1.0 BOOK /rooms/1\r\nContent-Length: 5\r\n\r\nhello";
    for cut in 0..full.len() {
        assert_eq!(parse(&full[..cut]), Ok(None), "cut at {cut}");
    }
    assert_eq!(&parse_ok(full).body[..], b"hello");
}

#[test]
fn pipelined_requests_parse_one_at_a_time() {
    let raw = "AGTP/1.0 QUERY /a\r\nContent-Length: 1\r\n\r\nxAGTP/1.0 QUERY /b\r\n\r\n";
    let (first, used) = parse(raw).unwrap().unwrap();
    assert_eq!(
        (first.path.as_deref(), &first.body[..]),
        (Some("/a"), &b"x"[..])
    );
    let (second, rest) = parse(&raw[used..]).unwrap().unwrap();
    assert_eq!(second.path.as_deref(), Some("/b"));
    assert_eq!(used + rest, raw.len());
}

#[test]
fn the_request_line_limit_gives_414_before_the_line_ends() {
    let limits = Limits {
        max_request_line: 32,
        ..Limits::default()
    };
    let at_limit = format!("AGTP/1.0 QUERY /{}\r\n\r\n", "a".repeat(32 - 18));
    assert_eq!(at_limit.find('\n'), Some(31));
    assert!(parse_request(at_limit.as_bytes(), &limits)
        .unwrap()
        .is_some());
    let over = format!("AGTP/1.0 QUERY /{}", "a".repeat(40));
    let error = parse_request(over.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Status::URI_TOO_LONG, "request-line-too-long")
    );
}

#[test]
fn the_header_block_limit_gives_431_before_the_block_ends() {
    let limits = Limits {
        max_header_bytes: 64,
        ..Limits::default()
    };
    let fits = format!("AGTP/1.0 QUERY /a\r\nX: {}\r\n\r\n", "v".repeat(64 - 7));
    assert!(parse_request(fits.as_bytes(), &limits).unwrap().is_some());
    let over = format!("AGTP/1.0 QUERY /a\r\nX: {}", "v".repeat(100));
    let error = parse_request(over.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Status::HEADER_FIELDS_TOO_LARGE, "headers-too-large")
    );
}

#[test]
fn the_header_count_limit_gives_431() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    let three = "AGTP/1.0 QUERY /a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert!(parse_request(three.as_bytes(), &limits).unwrap().is_some());
    let four = "AGTP/1.0 QUERY /a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    let error = parse_request(four.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Status::HEADER_FIELDS_TOO_LARGE, "too-many-headers")
    );
}

#[test]
fn the_body_limit_gives_413_from_the_head_alone() {
    let limits = Limits {
        max_body: 10,
        ..Limits::default()
    };
    let fits = "AGTP/1.0 BOOK /a\r\nContent-Length: 10\r\n\r\n";
    assert!(RequestParser::new(limits)
        .parse(fits.as_bytes())
        .unwrap()
        .is_some());
    for length in ["11", "99999999999999999999999999"] {
        let raw = format!("AGTP/1.0 BOOK /a\r\nContent-Length: {length}\r\n\r\n");
        let error = RequestParser::new(limits)
            .parse(raw.as_bytes())
            .unwrap_err();
        assert_eq!(
            (error.status(), error.code()),
            (Status::CONTENT_TOO_LARGE, "body-too-large")
        );
    }
}

#[test]
fn the_incremental_parser_resumes_where_it_stopped() {
    let raw = b"AGTP/1.0 QUERY /a\r\nAgent-ID: x\r\n\r\n";
    let mut parser = RequestParser::new(Limits::default());
    for end in 1..raw.len() {
        assert_eq!(parser.parse(&raw[..end]), Ok(None), "end {end}");
    }
    let head = parser.parse(raw).unwrap().unwrap();
    assert_eq!(head.len, raw.len());
    assert_eq!(head.message.headers.get("Agent-ID"), Some("x"));
}

#[test]
fn valid_and_invalid_status_lines() {
    let limits = Limits::default();
    let (response, _) = parse_response(
        b"AGTP/1.0 459 Method Violation\r\nContent-Length: 2\r\n\r\n{}",
        &limits,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (response.status, &response.body[..]),
        (Status::METHOD_VIOLATION, &b"{}"[..])
    );
    for bad in [
        "HTTP/1.1 200 OK\r\n\r\n",
        "AGTP/1.0 20 OK\r\n\r\n",
        "AGTP/1.0 abc OK\r\n\r\n",
        "AGTP/1.0 099 X\r\n\r\n",
    ] {
        assert!(parse_response(bad.as_bytes(), &limits).is_err(), "{bad:?}");
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec(
        (token(), "[ -~&&[^ ]]([ -~]{0,20}[!-~])?|[a-zé]{0,5}"),
        0..8,
    )
    .prop_map(|fields| {
        fields
            .into_iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("content-length")
                    && !n.eq_ignore_ascii_case("transfer-encoding")
            })
            .collect()
    })
}

fn request() -> impl Strategy<Value = Request> {
    (
        "[A-Z]{1,12}",
        prop::option::of("/[A-Za-z0-9/_{}.~-]{0,30}"),
        prop::collection::vec(("[a-z]{1,5}", ".{0,8}"), 0..4),
        headers(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, path, query, headers, body)| {
            let query = if path.is_some() { query } else { Vec::new() };
            Request {
                method,
                path,
                query,
                headers,
                body: body.into(),
            }
        })
}

proptest! {
    #[test]
    fn parse_inverts_encode_for_requests(request in request()) {
        let mut out = BytesMut::new();
        encode_request(&request, &mut out);
        let (parsed, used) = parse_request(&out, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(parsed, request);
    }

    #[test]
    fn parse_inverts_encode_for_responses(code in 100u16..1000, headers in headers(), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let response = Response { status: Status::from_code(code).unwrap(), headers, body: body.into() };
        let mut out = BytesMut::new();
        encode_response(&response, &mut out);
        let (parsed, _) = parse_response(&out, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(parsed, response);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits { max_request_line: 64, max_header_bytes: 128, max_headers: 4, max_body: 32 };
        let _ = parse_request(&bytes, &limits);
        let _ = parse_response(&bytes, &limits);
        let mut parser = RequestParser::new(limits);
        for end in 0..=bytes.len() {
            if parser.parse(&bytes[..end]).map_or(true, |head| head.is_some()) {
                break;
            }
        }
    }

    #[test]
    fn request_shaped_noise_never_panics_the_parser(bytes in "AGTP/1\\.0 [A-Za-z]{1,4}( [ -~]{0,10})?\r\n([ -~\t\r\n\u{0}]{0,40}\r\n){0,3}\r\n[ -~]{0,10}") {
        let _ = parse_request(bytes.as_bytes(), &Limits::default());
    }
}

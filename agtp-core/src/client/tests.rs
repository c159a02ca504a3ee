//! The client against in-process peers: a scripted TCP server for the pool, and an
//! in-memory pipe for peers that misbehave on purpose. The real daemon is exercised in
//! `agtp/tests/it/cli.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpListener;

use super::*;
use crate::encode::encode_response;
use crate::parse::parse_request;
use crate::{Request, Response, Status, WireError};

const CONCIERGE: &str = "d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c";

fn uri(s: &str) -> Result<Uri, UriError> {
    s.parse()
}

#[test]
fn a_server_level_uri_defaults_to_port_4480_and_a_target_less_request() {
    let uri = uri("agtp://agents.example").unwrap();
    assert_eq!((uri.host(), uri.port()), ("agents.example", 4480));
    let request = uri.request("discover");
    assert_eq!(request.method, "DISCOVER");
    assert_eq!(request.path, None);
    assert!(request.headers.is_empty());
    assert!(!uri.is_loopback());
}

#[test]
fn an_agent_id_before_the_host_becomes_the_agent_id_header() {
    let uri = uri(&format!("agtp://{CONCIERGE}@127.0.0.1:9000")).unwrap();
    assert_eq!((uri.host(), uri.port()), ("127.0.0.1", 9000));
    let request = uri.request("DESCRIBE");
    assert_eq!(request.headers.get("Agent-ID"), Some(CONCIERGE));
    assert_eq!(request.path, None);
    assert!(uri.is_loopback());
}

#[test]
fn an_agents_path_becomes_the_request_path() {
    let uri = uri("agtp://localhost/agents/room-concierge?lang=en").unwrap();
    assert_eq!(uri.agent_name(), Some("room-concierge"));
    let request = uri.request("DESCRIBE");
    assert_eq!(request.path.as_deref(), Some("/agents/room-concierge"));
    assert_eq!(request.query, vec![("lang".into(), "en".into())]);
    assert!(uri.is_loopback());
    assert_eq!(
        uri.to_string(),
        "agtp://localhost/agents/room-concierge",
        "display keeps the form, not the query"
    );
}

#[test]
fn ipv6_literals_are_bracketed_in_the_uri_and_bare_in_the_host() {
    let uri = uri("agtp://[::1]:4481").unwrap();
    assert_eq!((uri.host(), uri.port()), ("::1", 4481));
    assert!(uri.is_loopback());
    assert_eq!(uri.origin(false).authority(), "[::1]:4481");
    assert_eq!(
        uri.clone().to_string(),
        "agtp://[::1]:4481",
        "round-trips with brackets"
    );
    assert_eq!(
        self::uri("agtp://[::1]").unwrap().port(),
        4480,
        "default port"
    );
}

#[test]
fn malformed_uris_are_refused_with_the_part_that_is_wrong() {
    let cases = [
        ("localhost:4480", "not an AGTP URI"),
        ("https://example.com", "`https://`"),
        ("agtp://", "names no host"),
        ("agtp://:4480", "names no host"),
        ("agtp://host:0", "`0`: the port"),
        ("agtp://host:99999", "`99999`"),
        ("agtp://host:80a", "`80a`"),
        ("agtp://::1:4480", "in brackets"),
        ("agtp://[::1", "in brackets"),
        ("agtp://[nothex]:1", "in brackets"),
        ("agtp://bad_ho$t", "not a valid host"),
        ("agtp://alice@host", "`alice`: the part before `@`"),
        (
            &format!("agtp://{}@host", CONCIERGE.to_uppercase()),
            "64 lower-case hex",
        ),
        (&format!("agtp://{CONCIERGE}"), "add the host"),
        ("agtp://host/rooms", "`/rooms`: a URI path can only be"),
        ("agtp://host/agents/x/calendar", "`/agents/x/calendar`"),
        ("agtp://host/agents/", "`/agents/`"),
        ("agtp://host/#top", "no fragment"),
    ];
    for (input, expected) in cases {
        let error = uri(input).unwrap_err().to_string();
        assert!(error.contains(expected), "{input}: {error}");
    }
}

/// A scripted server on 127.0.0.1:0 that answers every request with `answer` and counts
/// the connections it accepts.
struct FakeServer {
    origin: Origin,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

async fn fake_server(answer: fn(&Request) -> Response) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (counter, closes) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let closes = closes.clone();
            tokio::spawn(async move {
                let mut input = BytesMut::new();
                loop {
                    match parse_request(&input, &crate::Limits::default()).unwrap() {
                        Some((request, used)) => {
                            let _ = input.split_to(used);
                            let response = answer(&request);
                            let mut out = BytesMut::new();
                            encode_response(&response, &mut out);
                            tcp.write_all(&out).await.unwrap();
                            if response.headers.contains("Connection")
                                || response.headers.contains("X-Quiet-Close")
                            {
                                drop(tcp);
                                closes.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                        None if tcp.read_buf(&mut input).await.unwrap_or(0) == 0 => return,
                        None => {}
                    }
                }
            });
        }
    });
    FakeServer {
        origin: Origin::new("127.0.0.1", port, false),
        accepted,
        closed,
    }
}

fn echo_path(request: &Request) -> Response {
    let mut response = Response::new(Status::OK);
    response.body = request.path.clone().unwrap_or_default().into();
    response
}

/// Closes after answering without saying so, as a server whose idle timeout hits does.
fn quietly_close_after_answer(_: &Request) -> Response {
    let mut response = Response::new(Status::OK);
    response.headers.append("X-Quiet-Close", "1");
    response
}

fn close_after_answer(_: &Request) -> Response {
    let mut response = Response::new(Status::OK);
    response.headers.append("Connection", "close");
    response
}

#[tokio::test]
async fn the_client_reuses_one_connection_for_sequential_requests() {
    let server = fake_server(echo_path).await;
    let client = Client::new(ClientConfig::default());
    for path in ["/a", "/b", "/c"] {
        let response = client
            .send(&server.origin, &Request::new("FETCH", Some(path)))
            .await
            .unwrap();
        assert_eq!(&response.body[..], path.as_bytes());
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(client.idle_count(&server.origin), 1);
}

#[tokio::test]
async fn a_connection_the_server_closes_is_not_reused() {
    let server = fake_server(close_after_answer).await;
    let client = Client::new(ClientConfig::default());
    for _ in 0..2 {
        let request = Request::new("DISCOVER", None);
        assert_eq!(
            client.send(&server.origin, &request).await.unwrap().status,
            Status::OK
        );
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(client.idle_count(&server.origin), 0);
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_server_is_replaced_before_sending() {
    let server = fake_server(quietly_close_after_answer).await;
    let client = Client::new(ClientConfig::default());
    let request = Request::new("FETCH", Some("/x"));
    client.send(&server.origin, &request).await.unwrap();
    assert_eq!(
        client.idle_count(&server.origin),
        1,
        "no close was announced"
    );
    while server.closed.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let response = client.send(&server.origin, &request).await.unwrap();
    assert_eq!(response.status, Status::OK);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn with_no_idle_connections_allowed_each_request_opens_its_own() {
    let server = fake_server(echo_path).await;
    let client = Client::new(ClientConfig {
        max_idle_per_host: 0,
        ..ClientConfig::default()
    });
    for _ in 0..3 {
        let request = Request::new("FETCH", Some("/x"));
        client.send(&server.origin, &request).await.unwrap();
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_naming_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::new(ClientConfig::default());
    let error = client
        .send(
            &Origin::new("127.0.0.1", port, false),
            &Request::new("DISCOVER", None),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect);
    assert!(error.before_sending());
    assert_eq!(
        error.to_string(),
        format!("cannot connect to 127.0.0.1:{port}: connection refused")
    );
}

/// A connection over an in-memory pipe, and the peer's end.
fn piped(config: &ClientConfig) -> (Connection<DuplexStream>, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    (Connection::new(ours, config), theirs)
}

async fn read_request(peer: &mut DuplexStream) -> Request {
    let mut input = BytesMut::new();
    loop {
        if let Some((request, _)) = parse_request(&input, &crate::Limits::default()).unwrap() {
            return request;
        }
        assert!(peer.read_buf(&mut input).await.unwrap() > 0);
    }
}

#[tokio::test]
async fn a_response_arriving_in_pieces_is_assembled() {
    let (mut connection, mut peer) = piped(&ClientConfig::default());
    let server = tokio::spawn(async move {
        let request = read_request(&mut peer).await;
        assert_eq!(&request.body[..], b"{\"a\":1}");
        for piece in [
            &b"AGTP/1.0 200 OK\r\nContent-Le"[..],
            b"ngth: 11\r\nX: y\r\n\r\nhello",
            b" world",
        ] {
            peer.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        peer
    });
    let mut request = Request::new("BOOK", Some("/rooms/1"));
    request.body = bytes::Bytes::from_static(b"{\"a\":1}");
    let response = connection.send(&request).await.unwrap();
    assert_eq!(&response.body[..], b"hello world");
    assert_eq!(response.headers.get("X"), Some("y"));
    assert!(connection.is_reusable());
    drop(server.await.unwrap());
}

#[tokio::test]
async fn a_close_mid_response_is_reported_with_the_bytes_received() {
    let (mut connection, mut peer) = piped(&ClientConfig::default());
    tokio::spawn(async move {
        read_request(&mut peer).await;
        peer.write_all(b"AGTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .unwrap();
    });
    let error = connection
        .send(&Request::new("DISCOVER", None))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Closed { received: 42 }),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Closed);
    assert!(!connection.is_reusable());
    let again = connection.send(&Request::new("DISCOVER", None)).await;
    assert!(matches!(again, Err(ClientError::Unusable)));
}

#[tokio::test]
async fn bytes_that_are_not_agtp_are_a_protocol_error() {
    let (mut connection, mut peer) = piped(&ClientConfig::default());
    tokio::spawn(async move {
        read_request(&mut peer).await;
        peer.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        peer
    });
    let error = connection
        .send(&Request::new("DISCOVER", None))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
}

#[tokio::test]
async fn a_body_over_the_response_limit_is_refused_before_it_is_read() {
    let config = ClientConfig {
        response_limits: crate::Limits {
            max_body: 100,
            ..crate::Limits::default()
        },
        ..ClientConfig::default()
    };
    let (mut connection, mut peer) = piped(&config);
    tokio::spawn(async move {
        read_request(&mut peer).await;
        peer.write_all(b"AGTP/1.0 200 OK\r\nContent-Length: 101\r\n\r\n")
            .await
            .unwrap();
        peer
    });
    let error = connection
        .send(&Request::new("DISCOVER", None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Protocol(WireError::BodyTooLarge {
                length: 101,
                limit: 100
            })
        ),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_answers_times_out_and_the_connection_is_spent() {
    let config = ClientConfig {
        response_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    };
    let (mut connection, _peer) = piped(&config);
    let started = tokio::time::Instant::now();
    let error = connection
        .send(&Request::new("DISCOVER", None))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
    assert_eq!(error.to_string(), "no complete response within 5s");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(!connection.is_reusable());
}

#[tokio::test]
async fn a_request_asking_to_close_leaves_the_connection_unusable() {
    let (mut connection, mut peer) = piped(&ClientConfig::default());
    tokio::spawn(async move {
        read_request(&mut peer).await;
        peer.write_all(b"AGTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        peer
    });
    let mut request = Request::new("DISCOVER", None);
    request.headers.append("Connection", "close");
    connection.send(&request).await.unwrap();
    assert!(!connection.is_reusable());
}

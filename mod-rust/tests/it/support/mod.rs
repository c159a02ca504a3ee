//! The test-only fake daemon: a real `UnixListener` in a temp dir, speaking frames with
//! `runtime-protocol`'s codec in sniffing mode (as the daemon does), and the booking runtime
//! the tests point at it.
// A harness: a failed `unwrap` is a failed test, as in the `#[test]` functions.
#![allow(clippy::unwrap_used)]

pub mod app;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::BytesMut;
use mod_rust::protocol::{
    DaemonInfo, EndpointSpec, Frame, FrameCodec, Hello, Ping, Register, RegisterAck, Request,
    RequestEnvelope, Welcome, CAP_SIGN_REQUEST,
};
use mod_rust::Encoding;
use serde_json::{Map, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{Decoder, Encoder};

/// How long a test waits for the runtime to do something before failing. Under paused time
/// this only elapses when nothing else can happen, so it never fires early.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A listening fake daemon.
pub struct FakeDaemon {
    dir: TempDir,
    socket: PathBuf,
    listener: UnixListener,
}

impl FakeDaemon {
    pub fn start() -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("gateway.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        FakeDaemon {
            dir,
            socket,
            listener,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A scratch directory that lives as long as the daemon (for manifest caches).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The next connection from the runtime.
    pub async fn accept(&self) -> Peer {
        let (stream, _) = tokio::time::timeout(PATIENCE, self.listener.accept())
            .await
            .expect("the runtime did not connect")
            .unwrap();
        Peer {
            stream,
            codec: FrameCodec::sniffing(),
            buf: BytesMut::new(),
            n_requests: 0,
        }
    }
}

/// The daemon's end of one connection.
pub struct Peer {
    stream: UnixStream,
    codec: FrameCodec,
    buf: BytesMut,
    n_requests: u32,
}

impl Peer {
    /// The encoding learnt from the runtime's `hello`.
    pub fn encoding(&self) -> Option<Encoding> {
        self.codec.encoding()
    }

    /// The next frame, or `None` when the runtime closed the connection.
    pub async fn recv_or_eof(&mut self) -> Option<Frame> {
        tokio::time::timeout(PATIENCE, self.read())
            .await
            .expect("the runtime sent nothing")
    }

    async fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    pub async fn recv(&mut self) -> Frame {
        self.recv_or_eof()
            .await
            .expect("the runtime closed the connection")
    }

    pub async fn expect_eof(&mut self) {
        if let Some(frame) = self.recv_or_eof().await {
            panic!("expected the runtime to close, got {frame:?}");
        }
    }

    pub async fn send(&mut self, frame: Frame) {
        let mut out = BytesMut::new();
        self.codec.encode(&frame, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// Reads `hello` and answers `welcome`, granting `sign_request` if asked and `sign`.
    pub async fn handshake(&mut self, sign: bool) -> Hello {
        let Frame::Hello(hello) = self.recv().await else {
            panic!("expected hello");
        };
        let capabilities = hello
            .capabilities
            .iter()
            .filter(|c| sign || c.as_str() != CAP_SIGN_REQUEST)
            .cloned()
            .collect();
        self.send(Frame::Welcome(Welcome {
            gateway_version: "1.0".into(),
            daemon: DaemonInfo {
                version: "fake-agtpd/0".into(),
                server_id: "test".into(),
                catalog_version: None,
            },
            capabilities,
        }))
        .await;
        hello
    }

    /// Sends a full `register` of `endpoints` and returns the runtime's ack.
    pub async fn register(&mut self, endpoints: Vec<EndpointSpec>) -> RegisterAck {
        self.send(Frame::Register(register(endpoints))).await;
        match self.recv().await {
            Frame::RegisterAck(ack) => ack,
            other => panic!("expected register_ack, got {other:?}"),
        }
    }

    /// Handshake and registration of the booking endpoints, checked to succeed.
    pub async fn open(&mut self) -> Hello {
        self.open_with(app::endpoints()).await
    }

    /// Handshake and registration of `endpoints`, checked to succeed.
    pub async fn open_with(&mut self, endpoints: Vec<EndpointSpec>) -> Hello {
        let hello = self.handshake(false).await;
        let ack = self.register(endpoints).await;
        assert!(ack.ok, "{ack:?}");
        hello
    }

    /// Sends a request and returns the runtime's answer (a `response` or an `error`).
    pub async fn call(&mut self, method: &str, path: &str, input: Value) -> Frame {
        let id = self.send_request(method, path, input).await;
        let answer = self.recv().await;
        assert_eq!(answered_id(&answer), Some(id.as_str()), "{answer:?}");
        answer
    }

    /// Sends a request and returns its `request_id` without waiting for the answer.
    pub async fn send_request(&mut self, method: &str, path: &str, input: Value) -> String {
        self.n_requests += 1;
        let request_id = format!("r-{}", self.n_requests);
        self.send(Frame::Request(request(&request_id, method, path, input)))
            .await;
        request_id
    }

    /// Pings and checks the pong.
    pub async fn ping(&mut self, nonce: &str) {
        self.send(Frame::Ping(Ping {
            nonce: nonce.into(),
        }))
        .await;
        match self.recv().await {
            Frame::Pong(pong) => assert_eq!(pong.nonce, nonce),
            other => panic!("expected pong, got {other:?}"),
        }
    }
}

/// A `register` frame (with its real manifest hash) for `endpoints`, with trivial schemas.
pub fn register(endpoints: Vec<EndpointSpec>) -> Register {
    let mut schemas = Map::new();
    schemas.insert("any".into(), serde_json::json!({}));
    Register::new(endpoints, schemas)
}

pub fn endpoint(method: &str, path: &str, errors: &[&str]) -> EndpointSpec {
    EndpointSpec {
        method: method.into(),
        path: path.into(),
        handler_reference: format!("booking::{}", method.to_lowercase()),
        input_schema_ref: "#/schemas/any".into(),
        output_schema_ref: "#/schemas/any".into(),
        errors: errors.iter().map(|e| e.to_string()).collect(),
        required_scopes: Vec::new(),
    }
}

pub fn request(request_id: &str, method: &str, path: &str, input: Value) -> Request {
    Request {
        request_id: request_id.into(),
        envelope: RequestEnvelope {
            method: method.into(),
            path: path.into(),
            agent_id: "agent-7".into(),
            principal_id: "alice".into(),
            agent_scopes: vec!["booking:*".into()],
            authority_scope: vec!["booking:write".into()],
            session_id: Some("s-1".into()),
            task_id: None,
            request_id: request_id.into(),
            headers: [("trace-parent".to_owned(), "00-abc".to_owned())].into(),
            input,
            agent_verified: false,
            agent_cert_fingerprint: None,
            agent_cert_extensions: Map::new(),
            client_address: None,
        },
        trust: None,
        deadline_ms: Some(30_000),
    }
}

/// The `request_id` a `response` or `error` answers.
pub fn answered_id(frame: &Frame) -> Option<&str> {
    match frame {
        Frame::Response(res) => Some(&res.request_id),
        Frame::Error(err) => err.request_id.as_deref(),
        _ => None,
    }
}

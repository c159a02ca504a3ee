//! The daemon's side of the gateway, played for one runtime process: a Unix socket whose
//! every connection gets the handshake and registration a daemon would give it
//! (PROTOCOL.md §6-§7), then becomes a [`Session`] the checks drive frame by frame.
//!
//! Handshakes run as connections arrive, as in the daemon, so a runtime that opens more
//! connections than asked still has each one registered; the checks take them in order.
//! A wait for a connection is bounded twice: by when it must connect, then by the
//! handshake's own timeouts.

use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use runtime_protocol::{
    negotiate_version, DaemonInfo, Encoding, ErrorCode, ErrorFrame, Frame, FrameCodec, Hello, Pong,
    Register, RegisterAck, RegisterResume, Welcome, CAP_REGISTERED_FUNCTION, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::{Decoder, Encoder};

use super::report::Problem;
use super::text::{describe_frame, seconds};

/// What the harness sent to register a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Offer {
    /// `register`, with this manifest hash.
    Register(String),
    /// `register_resume`: the runtime's cached hash was current.
    Resume(String),
}

/// One connection the runtime opened, as far as its handshake went.
pub(super) struct Arrival {
    /// When it was accepted.
    pub(super) accepted_at: Instant,
    /// Its `hello`, if one came.
    pub(super) hello: Option<Hello>,
    /// The encoding its first frame used.
    pub(super) encoding: Option<Encoding>,
    /// The registration sent, if the handshake got that far.
    pub(super) offer: Option<Offer>,
    /// The runtime's `register_ack`, if one came.
    pub(super) ack: Option<RegisterAck>,
    /// Why the connection is not serving, when it is not.
    pub(super) problem: Option<Problem>,
    /// The registered connection, when `ack.ok`.
    pub(super) session: Option<Session>,
}

/// A connection just accepted; its handshake result follows.
struct Accepted {
    at: Instant,
    handshake: oneshot::Receiver<Arrival>,
}

/// A socket and the connections arriving on it.
pub(super) struct Gateway {
    accepted: mpsc::UnboundedReceiver<Accepted>,
    accept: JoinHandle<()>,
    /// Bounds the wait for a handshake's result (its own waits are bounded by the limit).
    handshake_limit: Duration,
    /// Encodings of every connection seen, and decoding failures, for the `messagepack` check.
    pub(super) seen: Vec<(Encoding, Option<String>)>,
    /// Connections no check took, kept open as the daemon would keep them.
    parked: Vec<oneshot::Receiver<Arrival>>,
}

impl Gateway {
    /// Listens on `socket` and handshakes every connection with `register`.
    pub(super) fn bind(
        socket: &Path,
        register: Register,
        limit: Duration,
    ) -> std::io::Result<Self> {
        let listener = UnixListener::bind(socket)?;
        let (tx, accepted) = mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (done, handshake) = oneshot::channel();
                let at = Instant::now();
                if tx.send(Accepted { at, handshake }).is_err() {
                    return;
                }
                let register = register.clone();
                tokio::spawn(async move {
                    let _ = done.send(self::handshake(stream, at, &register, limit).await);
                });
            }
        });
        Ok(Gateway {
            accepted,
            accept,
            handshake_limit: 2 * limit + Duration::from_secs(1),
            seen: Vec::new(),
            parked: Vec::new(),
        })
    }

    /// The next connection accepted at or after `since` and before `connect_by`, once its
    /// handshake is done. Connections accepted before `since` are parked (kept open).
    pub(super) async fn next_arrival(
        &mut self,
        since: Instant,
        connect_by: Instant,
    ) -> Option<Arrival> {
        let accepted = loop {
            let accepted = timeout_at(connect_by, self.accepted.recv()).await.ok()??;
            if accepted.at >= since {
                break accepted;
            }
            self.parked.push(accepted.handshake);
        };
        let arrival = timeout(self.handshake_limit, accepted.handshake)
            .await
            .ok()?
            .ok()?;
        if let Some(encoding) = arrival.encoding {
            self.seen.push((encoding, None));
        }
        Some(arrival)
    }

    /// Records a frame that did not decode on a connection of `encoding`.
    pub(super) fn note_decode_failure(&mut self, encoding: Encoding, error: &str) {
        self.seen.push((encoding, Some(error.to_owned())));
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// hello → welcome → register | register_resume → register_ack, each wait bounded by `limit`.
async fn handshake(
    stream: UnixStream,
    accepted_at: Instant,
    register: &Register,
    limit: Duration,
) -> Arrival {
    let mut session = Session::new(stream);
    let mut arrival = Arrival {
        accepted_at,
        hello: None,
        encoding: None,
        offer: None,
        ack: None,
        problem: None,
        session: None,
    };
    let hello_expected = format!(
        "a `hello` frame within {} of connecting (§6.1)",
        seconds(limit)
    );
    let hello = match session.receive(Instant::now() + limit).await {
        Received::Frame(Frame::Hello(hello)) => hello,
        other => {
            arrival.encoding = session.codec.encoding();
            arrival.problem = Some(Problem::new(hello_expected, other.describe(limit)));
            session.refuse(&other).await;
            return arrival;
        }
    };
    arrival.encoding = session.codec.encoding();
    arrival.hello = Some(hello.clone());
    let Some(version) = negotiate_version(&hello.gateway_versions) else {
        arrival.problem = Some(Problem::new(
            format!("`hello.gateway_versions` to offer \"{PROTOCOL_VERSION}\""),
            format!("{:?}", hello.gateway_versions),
        ));
        let error = ErrorFrame {
            request_id: None,
            code: ErrorCode::GatewayVersionUnsupported,
            message: format!("this daemon speaks \"{PROTOCOL_VERSION}\""),
            details: None,
        };
        let _ = session.send(&Frame::Error(error)).await;
        return arrival;
    };
    let welcome = Frame::Welcome(Welcome {
        gateway_version: version.to_owned(),
        daemon: DaemonInfo {
            version: concat!("agtpd ", env!("CARGO_PKG_VERSION"), " (conformance)").to_owned(),
            server_id: "agtpd-conformance".to_owned(),
            catalog_version: None,
        },
        capabilities: hello
            .capabilities
            .iter()
            .filter(|c| c.as_str() == CAP_REGISTERED_FUNCTION)
            .cloned()
            .collect(),
    });
    // The daemon's rule (§7.3): resume if and only if the cached hash is the current one.
    let (offer, registration) =
        if hello.cached_manifest_hash.as_deref() == Some(&register.manifest_hash) {
            let hash = register.manifest_hash.clone();
            let resume = RegisterResume {
                manifest_hash: hash.clone(),
            };
            (Offer::Resume(hash), Frame::RegisterResume(resume))
        } else {
            let hash = register.manifest_hash.clone();
            (Offer::Register(hash), Frame::Register(register.clone()))
        };
    for frame in [welcome, registration] {
        if let Err(error) = session.send(&frame).await {
            arrival.problem = Some(Problem::new(
                "the connection to stay open for `welcome` and the registration",
                format!("writing `{}` failed: {error}", frame.type_name()),
            ));
            return arrival;
        }
    }
    arrival.offer = Some(offer);
    match session.receive(Instant::now() + limit).await {
        Received::Frame(Frame::RegisterAck(ack)) => {
            let ok = ack.ok;
            arrival.ack = Some(ack);
            if ok {
                arrival.session = Some(session);
            }
        }
        other => {
            let expected = format!(
                "a `register_ack` frame within {} of the registration (§7.2)",
                seconds(limit)
            );
            arrival.problem = Some(Problem::new(expected, other.describe(limit)));
            session.refuse(&other).await;
        }
    }
    arrival
}

/// What waiting for a frame produced.
// One value per wait, matched and dropped at once: boxing the frame would only make every
// match noisier (the same choice as `runtime_protocol::Frame`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Received {
    /// A frame (a `ping` from the runtime is answered and never shows up here).
    Frame(Frame),
    /// Nothing before the deadline.
    Silent,
    /// The runtime closed the connection between frames.
    Closed,
    /// Bytes that are not a frame, or a connection that failed mid-frame.
    Broken(String),
}

impl Received {
    /// For "got:" lines. `waited` is how long the wait was.
    pub(super) fn describe(&self, waited: Duration) -> String {
        match self {
            Received::Frame(frame) => describe_frame(frame),
            Received::Silent => format!("nothing within {}", seconds(waited)),
            Received::Closed => "the connection closed".to_owned(),
            Received::Broken(error) => format!("bytes that are not a frame: {error}"),
        }
    }
}

/// One connection, driven by the checks: send a frame, wait for one.
pub(super) struct Session {
    stream: UnixStream,
    codec: FrameCodec,
    buffer: BytesMut,
    /// How many `ping`s from the runtime were answered.
    pub(super) n_pings_answered: usize,
}

impl Session {
    fn new(stream: UnixStream) -> Session {
        Session {
            stream,
            codec: FrameCodec::sniffing(),
            buffer: BytesMut::new(),
            n_pings_answered: 0,
        }
    }

    /// The encoding the runtime chose with its first frame.
    pub(super) fn encoding(&self) -> Option<Encoding> {
        self.codec.encoding()
    }

    /// Writes one frame in the connection's encoding.
    pub(super) async fn send(&mut self, frame: &Frame) -> Result<(), String> {
        let mut out = BytesMut::new();
        self.codec
            .encode(frame, &mut out)
            .map_err(|e| e.to_string())?;
        match timeout(Duration::from_secs(5), self.stream.write_all(&out)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("the runtime stopped reading".to_owned()),
        }
    }

    /// The next frame, waiting until `deadline`. A `ping` from the runtime is answered
    /// with its `pong` and the wait goes on (§10: either side may ping).
    pub(super) async fn receive(&mut self, deadline: Instant) -> Received {
        loop {
            match self.codec.decode(&mut self.buffer) {
                Ok(Some(Frame::Ping(ping))) => {
                    self.n_pings_answered += 1;
                    let pong = Frame::Pong(Pong { nonce: ping.nonce });
                    if let Err(error) = self.send(&pong).await {
                        return Received::Broken(format!(
                            "cannot answer the runtime's ping: {error}"
                        ));
                    }
                    continue;
                }
                Ok(Some(frame)) => return Received::Frame(frame),
                Ok(None) => {}
                Err(error) => return Received::Broken(error.to_string()),
            }
            match timeout_at(deadline, self.stream.read_buf(&mut self.buffer)).await {
                Err(_) => return Received::Silent,
                Ok(Ok(0)) if self.buffer.is_empty() => return Received::Closed,
                Ok(Ok(0)) => {
                    let n = self.buffer.len();
                    return Received::Broken(format!(
                        "the connection closed {n} bytes into a frame"
                    ));
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Received::Closed
                }
                Ok(Err(error)) => return Received::Broken(error.to_string()),
            }
        }
    }

    /// Sends `error` (a daemon's last word) and closes.
    pub(super) async fn close_with(mut self, error: ErrorFrame) {
        let _ = self.send(&Frame::Error(error)).await;
        let _ = self.stream.shutdown().await;
    }

    /// After a wait that did not produce the expected frame: for bytes that are not a
    /// frame, tells the runtime so, as the daemon would (§2); then the connection closes.
    async fn refuse(&mut self, received: &Received) {
        let error = match received {
            Received::Broken(message) => ErrorFrame {
                request_id: None,
                code: ErrorCode::MalformedFrame,
                message: message.clone(),
                details: None,
            },
            Received::Frame(frame) => ErrorFrame {
                request_id: None,
                code: ErrorCode::PhaseViolation,
                message: format!("`{}` during the handshake", frame.type_name()),
                details: None,
            },
            Received::Silent | Received::Closed => return,
        };
        let _ = self.send(&Frame::Error(error)).await;
    }
}

//! One gateway connection from connect to close: handshake (PROTOCOL.md §6) and registration
//! (§7) here, then the serving loop in `serving.rs`.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use runtime_protocol::{
    EndpointSpec, ErrorCode, ErrorFrame, Frame, GoodbyeReason, Hello, ModuleInfo, RegisterAck,
    RegistrationFailure, CAP_REGISTERED_FUNCTION, CAP_SIGN_REQUEST, DEFAULT_HANDSHAKE_TIMEOUT,
    SUPPORTED_VERSIONS,
};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::cache::{CachedManifest, ManifestCache};
use crate::connection::{self, FrameReader, FrameWriter, WireError};
use crate::error::Error;
use crate::handler::BoxedHandler;
use crate::router::Routes;
use crate::serving::Serving;

/// What every connection of a runtime shares.
pub(crate) struct Shared {
    /// `hello.module` for every connection.
    pub(crate) module: ModuleInfo,
    /// The daemon's socket.
    pub(crate) socket: PathBuf,
    /// The payload encoding of every connection.
    pub(crate) encoding: runtime_protocol::Encoding,
    /// Handlers keyed by `(METHOD, declared path)`.
    pub(crate) handlers: BTreeMap<(String, String), BoxedHandler>,
    /// The last registration, for `hello.cached_manifest_hash` and `register_resume`.
    pub(crate) cache: ManifestCache,
    /// Cancelled when the runtime stops: connections say goodbye and finish in-flight work.
    pub(crate) stop: CancellationToken,
}

/// How a connection ended in good order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The runtime is stopping and this connection is done.
    Stopped,
    /// The daemon said `goodbye`; in-flight work was finished and the connection closed.
    Goodbye(Option<GoodbyeReason>),
}

/// How a connection ended otherwise.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Retrying cannot help; `serve` returns this.
    Fatal(Error),
    /// The connection is gone; reconnect after the backoff delay.
    Lost(Lost),
}

/// Why a connection was lost. Logged once, by the connection loop.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Lost {
    /// The socket could not be connected.
    #[error("cannot connect to `{}`", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading or writing a frame failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The daemon closed the connection.
    #[error("the daemon closed the connection")]
    Closed,
    /// The daemon did not send the next handshake frame in time.
    #[error("no `{0}` from the daemon within {1:?}")]
    Timeout(&'static str, Duration),
    /// The daemon sent an `error` that ends the connection.
    #[error("the daemon sent error `{code}`: {message}")]
    Peer { code: ErrorCode, message: String },
    /// The daemon sent a frame its phase does not allow; we answered `phase_violation`.
    #[error("the daemon sent `{frame}` during {phase}")]
    PhaseViolation {
        frame: &'static str,
        phase: &'static str,
    },
    /// `register_resume` named a manifest this runtime does not hold; the cache was dropped.
    #[error("`register_resume` for `{0}`, which this runtime does not hold")]
    UnknownResume(String),
    /// The request in flight passed its deadline; its handler was aborted.
    #[error("the request `{0}` passed its deadline")]
    Deadline(String),
}

impl From<WireError> for Failure {
    fn from(err: WireError) -> Self {
        Failure::Lost(Lost::Wire(err))
    }
}

/// Runs one connection: connect, handshake, register, serve until it ends. Resets `backoff`
/// once the registration succeeded.
pub(crate) async fn run(shared: &Shared, backoff: &mut Backoff) -> Result<Ended, Failure> {
    let connect = UnixStream::connect(&shared.socket);
    let stream = tokio::select! {
        res = connect => res.map_err(|source| Failure::Lost(Lost::Connect {
            path: shared.socket.clone(),
            source,
        }))?,
        () = shared.stop.cancelled() => return Ok(Ended::Stopped),
    };
    let (mut reader, mut writer) = connection::split(stream, shared.encoding);

    let hello = Hello {
        gateway_versions: SUPPORTED_VERSIONS.iter().map(|v| v.to_string()).collect(),
        module: shared.module.clone(),
        capabilities: vec![CAP_REGISTERED_FUNCTION.into(), CAP_SIGN_REQUEST.into()],
        cached_manifest_hash: shared.cache.hash(),
    };
    writer.write(&Frame::Hello(hello)).await?;

    let Some(frame) = next(shared, &mut reader, "welcome").await? else {
        return Ok(Ended::Stopped);
    };
    let welcome = match frame {
        Frame::Welcome(welcome) => welcome,
        other => return Err(unexpected(&mut writer, other, "handshake").await),
    };
    if !SUPPORTED_VERSIONS.contains(&welcome.gateway_version.as_str()) {
        let message = format!("it chose `{}`", welcome.gateway_version);
        return Err(Failure::Fatal(Error::VersionUnsupported { message }));
    }
    let can_sign = welcome.capabilities.iter().any(|c| c == CAP_SIGN_REQUEST);

    let Some(frame) = next(shared, &mut reader, "register").await? else {
        return Ok(Ended::Stopped);
    };
    let manifest = match frame {
        Frame::Register(register) => CachedManifest {
            manifest_hash: register.manifest_hash,
            endpoints: register.endpoints,
        },
        Frame::RegisterResume(resume) => match shared.cache.get(&resume.manifest_hash) {
            Some(manifest) => manifest,
            None => {
                // Closing without an ack makes the daemon forget this attempt; the next
                // hello carries no hash and earns a full `register`.
                shared.cache.discard();
                return Err(Failure::Lost(Lost::UnknownResume(resume.manifest_hash)));
            }
        },
        other => return Err(unexpected(&mut writer, other, "registration").await),
    };
    let routes = match bind(&shared.handlers, &manifest.endpoints) {
        Ok((routes, resolved)) => {
            let ack = RegisterAck {
                ok: true,
                resolved,
                errors: Vec::new(),
            };
            writer.write(&Frame::RegisterAck(ack)).await?;
            shared.cache.store(manifest);
            routes
        }
        Err(failures) => {
            // A refused `register` still replaces the cached set (§7.3): nothing to resume.
            shared.cache.discard();
            let ack = RegisterAck {
                ok: false,
                resolved: Vec::new(),
                errors: failures.clone(),
            };
            // Best effort: the runtime stops either way, and says why in the returned error.
            let _ = writer.write(&Frame::RegisterAck(ack)).await;
            return Err(Failure::Fatal(Error::RegistrationRefused { failures }));
        }
    };
    backoff.reset();

    Serving::new(shared, reader, writer, routes, can_sign)
        .run()
        .await
}

/// The next handshake frame, within the handshake timeout; `None` when the runtime stops
/// first. EOF and connection-ending `error` frames become failures here.
async fn next(
    shared: &Shared,
    reader: &mut FrameReader,
    expected: &'static str,
) -> Result<Option<Frame>, Failure> {
    let timeout = DEFAULT_HANDSHAKE_TIMEOUT;
    let frame = tokio::select! {
        res = tokio::time::timeout(timeout, reader.read()) => match res {
            Ok(frame) => frame?,
            Err(_) => return Err(Failure::Lost(Lost::Timeout(expected, timeout))),
        },
        () = shared.stop.cancelled() => return Ok(None),
    };
    match frame {
        None => Err(Failure::Lost(Lost::Closed)),
        Some(Frame::Error(err)) => Err(peer_error(err)),
        Some(frame) => Ok(Some(frame)),
    }
}

/// An `error` frame from the daemon that ends the connection.
pub(crate) fn peer_error(err: ErrorFrame) -> Failure {
    match err.code {
        ErrorCode::GatewayVersionUnsupported => Failure::Fatal(Error::VersionUnsupported {
            message: err.message,
        }),
        code => Failure::Lost(Lost::Peer {
            code,
            message: err.message,
        }),
    }
}

/// Answers a frame the phase does not allow with `phase_violation` (best effort: the
/// connection closes either way) and reports it.
pub(crate) async fn unexpected(
    writer: &mut FrameWriter,
    frame: Frame,
    phase: &'static str,
) -> Failure {
    let name = frame.type_name();
    let error = ErrorFrame {
        request_id: None,
        code: ErrorCode::PhaseViolation,
        message: format!("`{name}` is not allowed during {phase}"),
        details: None,
    };
    let _ = writer.write(&Frame::Error(error)).await;
    Failure::Lost(Lost::PhaseViolation { frame: name, phase })
}

/// Binds every endpoint of a registration to its handler, or lists those without one.
fn bind(
    handlers: &BTreeMap<(String, String), BoxedHandler>,
    endpoints: &[EndpointSpec],
) -> Result<(Routes, Vec<String>), Vec<RegistrationFailure>> {
    let mut routes = Routes::default();
    let mut resolved = Vec::with_capacity(endpoints.len());
    let mut failures = Vec::new();
    for endpoint in endpoints {
        let key = (endpoint.method.clone(), endpoint.path.clone());
        match handlers.get(&key) {
            Some(handler) => {
                routes.insert(&endpoint.method, &endpoint.path, handler.clone());
                resolved.push(endpoint.key());
            }
            None => failures.push(RegistrationFailure {
                endpoint: endpoint.key(),
                reason: "handler_not_found".into(),
                detail: Some(format!(
                    "no handler registered for `{}` (handler_reference `{}`)",
                    endpoint.key(),
                    endpoint.handler_reference
                )),
            }),
        }
    }
    if failures.is_empty() {
        Ok((routes, resolved))
    } else {
        Err(failures)
    }
}

/// Whether a cached endpoint set still binds against this program's handlers; a stale cache
/// is not offered to the daemon.
pub(crate) fn binds(
    handlers: &BTreeMap<(String, String), BoxedHandler>,
    manifest: &CachedManifest,
) -> bool {
    bind(handlers, &manifest.endpoints).is_ok()
}

//! One gateway connection from connect to close: handshake (PROTOCOL.md §6) and registration
//! (§7) here, then the serving loop in `serving.rs`.

use std::collections::BTreeMap;

use runtime_protocol::{
    EndpointSpec, Frame, Hello, RegisterAck, RegistrationFailure, CAP_REGISTERED_FUNCTION,
    CAP_SIGN_REQUEST, DEFAULT_HANDSHAKE_TIMEOUT, SUPPORTED_VERSIONS,
};
use tokio::net::UnixStream;

use crate::backoff::Backoff;
use crate::cache::CachedManifest;
use crate::connection::{self, FrameReader};
use crate::ending::{peer_error, unexpected, Ended, Failure, Lost};
use crate::error::Error;
use crate::handler::BoxedHandler;
use crate::router::Routes;
use crate::serving::Serving;
use crate::shared::Shared;

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

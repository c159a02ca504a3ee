//! A new runtime connection, from accept to registered (PROTOCOL.md §6, §7): `hello` →
//! `welcome` → `register` or `register_resume` → `register_ack`, each wait bounded by the
//! handshake timeout. The encoding is sniffed from `hello`'s first payload byte and kept
//! for the whole connection.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use runtime_protocol::{
    negotiate_version, ErrorCode, ErrorFrame, Frame, FrameCodec, Hello, Register, RegisterAck,
    RegisterResume, Welcome, CAP_REGISTERED_FUNCTION, CAP_SIGN_REQUEST,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::Framed;

use super::connection::RuntimeConnection;
use super::pool::Slot;
use super::Gateway;

/// Why a handshake did not end in a registered connection.
enum Refused {
    /// Nothing to answer: the runtime left or was too slow.
    Quiet(&'static str),
    /// The runtime broke the protocol; this `error` is sent before closing.
    Error(ErrorFrame),
    /// `register_ack` with `ok: false`.
    Rejected(RegisterAck),
}

/// Serves one accepted connection: the handshake, then the connection's own loop. `pid` is
/// the peer's process id when the socket knows it.
pub(super) async fn serve<S>(stream: S, gateway: Arc<Gateway>, peer: String, pid: Option<u32>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let settings = gateway.settings();
    let codec = FrameCodec::sniffing().with_max_frame_len(settings.config.max_frame_bytes);
    let mut framed = Framed::new(stream, codec);
    let limit = settings.config.handshake_timeout;
    let hello = match receive(&mut framed, Instant::now() + limit).await {
        Ok(Frame::Hello(hello)) => hello,
        Ok(other) => {
            let detail = format!("`{}` before `hello`", other.type_name());
            return refuse(
                &mut framed,
                &peer,
                violation(ErrorCode::PhaseViolation, detail),
            )
            .await;
        }
        Err(refused) => return refuse(&mut framed, &peer, refused).await,
    };
    let Some(version) = negotiate_version(&hello.gateway_versions) else {
        let detail = format!(
            "this daemon speaks {:?}",
            runtime_protocol::SUPPORTED_VERSIONS
        );
        let refused = violation(ErrorCode::GatewayVersionUnsupported, detail);
        return refuse(&mut framed, &peer, refused).await;
    };
    let pool = gateway.pool(hello.module.pool_name());
    let signing = settings.signer.is_some() && claims(&hello, CAP_SIGN_REQUEST);
    let capabilities = [
        (
            CAP_REGISTERED_FUNCTION,
            claims(&hello, CAP_REGISTERED_FUNCTION),
        ),
        (CAP_SIGN_REQUEST, signing),
    ]
    .into_iter()
    .filter(|(_, granted)| *granted)
    .map(|(cap, _)| cap.to_owned())
    .collect();
    let welcome = Frame::Welcome(Welcome {
        gateway_version: version.to_owned(),
        daemon: settings.daemon.clone(),
        capabilities,
    });
    let mut manifest = pool.subscribe();
    let current = manifest.borrow_and_update().clone();
    let resumed = hello.cached_manifest_hash.as_deref() == Some(&current.manifest_hash);
    let registration = match resumed {
        true => Frame::RegisterResume(RegisterResume {
            manifest_hash: current.manifest_hash.clone(),
        }),
        false => Frame::Register(Register::clone(&current)),
    };
    if let Err(refused) = offer(&mut framed, &[welcome, registration], limit).await {
        return refuse(&mut framed, &peer, refused).await;
    }
    match receive(&mut framed, Instant::now() + limit).await {
        Ok(Frame::RegisterAck(ack)) if ack.ok => {}
        Ok(Frame::RegisterAck(ack)) => {
            return refuse(&mut framed, &peer, Refused::Rejected(ack)).await
        }
        Ok(other) => {
            let detail = format!("`{}` instead of `register_ack`", other.type_name());
            let refused = violation(ErrorCode::PhaseViolation, detail);
            return refuse(&mut framed, &peer, refused).await;
        }
        Err(refused) => return refuse(&mut framed, &peer, refused).await,
    }
    if current.endpoints.is_empty() {
        tracing::warn!(
            pool = pool.name(),
            module = hello.module.id,
            "a runtime joined a pool that serves no endpoint; it will receive no request"
        );
    }
    tracing::info!(
        pool = pool.name(),
        module = hello.module.id,
        version = hello.module.version,
        pid,
        %peer,
        encoding = framed.codec().encoding().map(|e| e.name()),
        resumed,
        signing,
        "runtime registered"
    );
    let (jobs_tx, jobs) = mpsc::channel(1);
    let served = pid.map(|pid| gateway.processes.join(pid, pool.name()));
    let retiring = gateway.processes.subscribe();
    let connection = RuntimeConnection {
        served,
        retiring,
        framed,
        slot: Slot {
            id: gateway.next_connection_id(),
            jobs: jobs_tx,
            pid,
        },
        pool,
        jobs,
        manifest,
        manifest_hash: current.manifest_hash.clone(),
        signing,
        keepalive: settings.config.keepalive_interval,
        pong_timeout: settings.config.pong_timeout,
        module: hello.module.id,
        peer_goodbye: false,
        next_nonce: 0,
        gateway,
    };
    connection.run().await;
}

fn claims(hello: &Hello, capability: &str) -> bool {
    hello.capabilities.iter().any(|c| c == capability)
}

async fn receive<S>(framed: &mut Framed<S, FrameCodec>, deadline: Instant) -> Result<Frame, Refused>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match timeout_at(deadline, framed.next()).await {
        Err(_) => Err(Refused::Quiet("handshake timed out")),
        Ok(None) => Err(Refused::Quiet("runtime closed during the handshake")),
        Ok(Some(Ok(frame))) => Ok(frame),
        Ok(Some(Err(error))) => match error.to_error_frame() {
            Some(frame) => Err(Refused::Error(frame)),
            None => Err(Refused::Quiet("connection failed during the handshake")),
        },
    }
}

async fn offer<S>(
    framed: &mut Framed<S, FrameCodec>,
    frames: &[Frame],
    limit: std::time::Duration,
) -> Result<(), Refused>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for frame in frames {
        framed
            .feed(frame)
            .await
            .map_err(|_| Refused::Quiet("cannot write the handshake"))?;
    }
    match timeout(limit, SinkExt::<&Frame>::flush(framed)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(Refused::Quiet("cannot write the handshake")),
    }
}

fn violation(code: ErrorCode, message: String) -> Refused {
    Refused::Error(ErrorFrame {
        request_id: None,
        code,
        message,
        details: None,
    })
}

/// Logs why the handshake ended and, for a protocol error, tells the runtime.
async fn refuse<S>(framed: &mut Framed<S, FrameCodec>, peer: &str, refused: Refused)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match refused {
        Refused::Quiet(why) => tracing::debug!(%peer, why, "runtime connection closed"),
        Refused::Error(error) => {
            tracing::warn!(%peer, code = %error.code, error.message, "runtime handshake refused");
            let frame = Frame::Error(error);
            let _ = timeout(std::time::Duration::from_secs(1), framed.send(&frame)).await;
        }
        Refused::Rejected(ack) => {
            for failure in &ack.errors {
                tracing::error!(
                    %peer,
                    endpoint = failure.endpoint,
                    reason = failure.reason,
                    detail = failure.detail.as_deref().unwrap_or(""),
                    "runtime could not bind an endpoint; connection closed"
                );
            }
            if ack.errors.is_empty() {
                tracing::error!(%peer, "runtime refused its registration without details; connection closed");
            }
        }
    }
}

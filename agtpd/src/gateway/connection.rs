//! One registered runtime connection, served by one task that owns the socket.
//!
//! The task waits, in one `select!`, for a job from a dispatcher, a frame from the runtime,
//! its keepalive timer and the gateway's stop signals, so a frame the runtime sends while
//! idle is always read and handled on its own (PROTOCOL.md §10) and never mistaken for the
//! answer to the next request. While a request is in flight it reads until the matching
//! `response` or `error`, answering `ping` and `sign_request` on the way, until the
//! request's deadline (`exchange.rs`). Whatever ends the connection, the request in
//! flight (and any job that raced into the channel) is answered with what is known:
//! written or not.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use runtime_protocol::{
    ErrorCode, ErrorFrame, Frame, FrameCodec, Goodbye, GoodbyeReason, Ping, Pong,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::codec::Framed;

use super::pool::{Job, Outcome, Pool, Slot};
use super::processes::Member;
use super::Gateway;

/// How long a control frame (ping, pong, goodbye, error) may take to write.
const CONTROL_WRITE: Duration = Duration::from_secs(2);

/// Why a connection ended, for the log.
pub(super) enum End {
    Eof,
    Io(String),
    /// The runtime broke the protocol; this `error` was sent to it.
    Protocol(ErrorCode, String),
    /// The runtime sent a connection-level `error`.
    PeerError(ErrorCode, String),
    PeerGoodbye,
    Goodbye(GoodbyeReason),
    PongMissed,
    HandlerTimeout,
    Cut,
}

pub(super) struct RuntimeConnection<S> {
    pub(super) framed: Framed<S, FrameCodec>,
    pub(super) gateway: Arc<Gateway>,
    pub(super) pool: Arc<Pool>,
    pub(super) slot: Slot,
    pub(super) jobs: mpsc::Receiver<Job>,
    pub(super) manifest: watch::Receiver<Arc<runtime_protocol::Register>>,
    pub(super) manifest_hash: String,
    pub(super) signing: bool,
    pub(super) keepalive: Duration,
    pub(super) pong_timeout: Duration,
    pub(super) module: String,
    pub(super) peer_goodbye: bool,
    pub(super) next_nonce: u64,
    /// The peer's process, when the socket knows its pid.
    pub(super) served: Option<Member>,
    /// The process groups asked to retire.
    pub(super) retiring: watch::Receiver<BTreeSet<u32>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RuntimeConnection<S> {
    /// Joins the pool, serves until the connection ends, then leaves it.
    pub(super) async fn run(mut self) {
        self.pool.join(self.slot.clone());
        let end = self.serve().await;
        self.jobs.close();
        while let Ok(job) = self.jobs.try_recv() {
            let outcome = Outcome::Broken {
                written: false,
                frame: job.frame,
            };
            let _ = job.reply.send(outcome);
        }
        self.pool.leave(self.slot.id);
        if let Some(member) = &self.served {
            self.gateway.processes.leave(member.pid);
        }
        let (pool, module) = (self.pool.name(), self.module.as_str());
        match end {
            End::Protocol(code, detail) => {
                tracing::warn!(pool, module, %code, detail, "runtime connection closed: protocol error")
            }
            End::PeerError(code, message) => {
                tracing::warn!(pool, module, %code, message, "runtime closed its connection with an error")
            }
            End::PongMissed => {
                tracing::warn!(pool, module, "runtime missed its pong; connection dropped")
            }
            End::HandlerTimeout => {
                tracing::warn!(
                    pool,
                    module,
                    "handler timed out; connection closed for the runtime to replace"
                )
            }
            End::Io(error) => tracing::info!(pool, module, error, "runtime connection lost"),
            End::Goodbye(reason) => {
                tracing::info!(pool, module, %reason, "runtime connection closed after goodbye")
            }
            End::PeerGoodbye => tracing::info!(pool, module, "runtime said goodbye"),
            End::Eof => tracing::info!(pool, module, "runtime closed its connection"),
            End::Cut => tracing::debug!(pool, module, "runtime connection cut"),
        }
    }

    async fn serve(&mut self) -> End {
        // A process already retiring (it reconnected after its goodbye) gets another.
        if let Some(reason) = self.goodbye_due() {
            return self.goodbye(reason).await;
        }
        loop {
            let job = match self.idle().await {
                Ok(job) => job,
                Err(end) => return end,
            };
            if let Some(end) = self.busy(job).await {
                return end;
            }
            // Order matters: a due goodbye is sent before the connection is lent again.
            if self.peer_goodbye {
                return End::PeerGoodbye;
            }
            if let Some(reason) = self.goodbye_due() {
                return self.goodbye(reason).await;
            }
            self.pool.release(self.slot.clone());
        }
    }

    fn goodbye_due(&self) -> Option<GoodbyeReason> {
        if self.gateway.stop.is_cancelled() {
            Some(GoodbyeReason::Shutdown)
        } else if self.manifest.borrow().manifest_hash != self.manifest_hash {
            Some(GoodbyeReason::ManifestReload)
        } else if self
            .served
            .as_ref()
            .is_some_and(|member| self.retiring.borrow().contains(&member.group))
        {
            Some(GoodbyeReason::Drain)
        } else {
            None
        }
    }

    /// Waits, idle, for a job; handles whatever the runtime sends meanwhile.
    async fn idle(&mut self) -> Result<Job, End> {
        let mut heard = Instant::now();
        let mut pinged: Option<Instant> = None;
        loop {
            let wake = pinged.map_or(heard + self.keepalive, |at| at + self.pong_timeout);
            tokio::select! {
                biased;
                _ = self.gateway.cut.cancelled() => return Err(End::Cut),
                _ = self.gateway.stop.cancelled() => {
                    return Err(self.goodbye(GoodbyeReason::Shutdown).await)
                }
                Ok(()) = self.manifest.changed() => {
                    if let Some(reason) = self.goodbye_due() {
                        return Err(self.goodbye(reason).await);
                    }
                }
                Ok(()) = self.retiring.changed() => {
                    if let Some(reason) = self.goodbye_due() {
                        return Err(self.goodbye(reason).await);
                    }
                }
                job = self.jobs.recv() => match job {
                    Some(job) => return Ok(job),
                    None => return Err(End::Cut),
                },
                frame = self.framed.next() => {
                    // Any frame shows the runtime is alive.
                    (heard, pinged) = (Instant::now(), None);
                    match frame {
                        None => return Err(End::Eof),
                        Some(Err(error)) => return Err(self.decode_failed(error).await),
                        Some(Ok(Frame::Ping(ping))) => self.pong(ping).await?,
                        Some(Ok(Frame::Pong(_))) => {}
                        Some(Ok(Frame::Goodbye(_))) => return Err(End::PeerGoodbye),
                        Some(Ok(Frame::Error(e))) if e.request_id.is_none() => {
                            return Err(End::PeerError(e.code, e.message))
                        }
                        Some(Ok(other)) => {
                            let detail = format!("`{}` while idle", other.type_name());
                            return Err(self.fail(ErrorCode::PhaseViolation, detail).await);
                        }
                    }
                }
                _ = sleep_until(wake) => {
                    if pinged.is_some() {
                        return Err(End::PongMissed);
                    }
                    self.next_nonce += 1;
                    let ping = Frame::Ping(Ping { nonce: format!("k-{}", self.next_nonce) });
                    self.control(&ping).await?;
                    pinged = Some(Instant::now());
                }
            }
        }
    }

    pub(super) async fn pong(&mut self, ping: Ping) -> Result<(), End> {
        self.control(&Frame::Pong(Pong { nonce: ping.nonce })).await
    }

    pub(super) async fn goodbye(&mut self, reason: GoodbyeReason) -> End {
        let frame = Frame::Goodbye(Goodbye {
            reason: Some(reason.clone()),
        });
        match self.control(&frame).await {
            Ok(()) => End::Goodbye(reason),
            Err(end) => end,
        }
    }

    /// Sends an `error` that closes the connection.
    pub(super) async fn fail(&mut self, code: ErrorCode, detail: String) -> End {
        let frame = Frame::Error(ErrorFrame {
            request_id: None,
            code: code.clone(),
            message: detail.clone(),
            details: None,
        });
        let _ = self.control(&frame).await;
        End::Protocol(code, detail)
    }

    pub(super) async fn decode_failed(&mut self, error: runtime_protocol::Error) -> End {
        match error.to_error_frame() {
            Some(frame) => {
                let _ = self.control(&Frame::Error(frame.clone())).await;
                End::Protocol(frame.code, frame.message)
            }
            None => End::Io(error.to_string()),
        }
    }

    pub(super) async fn control(&mut self, frame: &Frame) -> Result<(), End> {
        match timeout(CONTROL_WRITE, self.framed.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Io(error.to_string())),
            Err(_) => Err(End::Io("write timed out".to_owned())),
        }
    }
}

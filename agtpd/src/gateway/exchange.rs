//! One request in flight on a connection: the `request` frame goes out with its
//! `deadline_ms`, then the connection reads until the matching `response` or `error`,
//! answering `ping` and `sign_request` on the way (PROTOCOL.md §8, §9), or until the
//! deadline, after which it tells the runtime and closes (§8.4).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use runtime_protocol::{ErrorCode, ErrorFrame, Frame, ResponseEnvelope};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use super::connection::{End, RuntimeConnection};
use super::pool::{Job, Outcome};
use crate::signing;

/// What serving one request came to, before the frame is reattached.
enum Served {
    Answered(ResponseEnvelope),
    Failed(ErrorFrame),
    TimedOut,
    Unsendable(String),
    Broken(bool, End),
}

impl<S: AsyncRead + AsyncWrite + Unpin> RuntimeConnection<S> {
    /// Serves one job; `Some` when the connection must end.
    pub(super) async fn busy(&mut self, job: Job) -> Option<End> {
        let Job {
            mut frame,
            deadline,
            reply,
        } = job;
        if let Frame::Request(request) = &mut frame {
            let left = deadline.saturating_duration_since(Instant::now());
            request.deadline_ms = Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        }
        let (outcome, end) = match self.exchange(&frame, deadline).await {
            Served::Answered(envelope) => (Outcome::Answered(envelope), None),
            Served::Failed(error) => (Outcome::Failed(error), None),
            Served::TimedOut => (Outcome::TimedOut, Some(End::HandlerTimeout)),
            Served::Unsendable(message) => (Outcome::Unsendable(message), None),
            Served::Broken(written, end) => (Outcome::Broken { written, frame }, Some(end)),
        };
        if let (Outcome::Answered(_) | Outcome::Failed(_), Some(member)) = (&outcome, &self.served)
        {
            member
                .n_served
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let _ = reply.send(outcome);
        end
    }

    async fn exchange(&mut self, frame: &Frame, deadline: Instant) -> Served {
        let request_id = match frame {
            Frame::Request(request) => request.request_id.as_str(),
            _ => return Served::Unsendable("not a request frame".to_owned()),
        };
        match timeout_at(deadline, self.framed.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(runtime_protocol::Error::Io(error))) => {
                return Served::Broken(true, End::Io(error.to_string()))
            }
            Ok(Err(error)) => return Served::Unsendable(error.to_string()),
            Err(_) => return self.timed_out(request_id).await,
        }
        loop {
            let frame = tokio::select! {
                biased;
                _ = self.gateway.cut.cancelled() => return Served::Broken(true, End::Cut),
                frame = self.framed.next() => frame,
                _ = sleep_until(deadline) => return self.timed_out(request_id).await,
            };
            let frame = match frame {
                None => return Served::Broken(true, End::Eof),
                Some(Err(error)) => return Served::Broken(true, self.decode_failed(error).await),
                Some(Ok(frame)) => frame,
            };
            match frame {
                Frame::Response(r) if r.request_id == request_id => {
                    return Served::Answered(r.envelope)
                }
                Frame::Error(e) if e.request_id.as_deref() == Some(request_id) => {
                    return match e.code {
                        ErrorCode::GatewayVersionUnsupported
                        | ErrorCode::MalformedFrame
                        | ErrorCode::FrameTooLarge
                        | ErrorCode::PhaseViolation
                        | ErrorCode::RequestIdMismatch
                        | ErrorCode::RegistrationFailed => {
                            Served::Broken(true, End::PeerError(e.code, e.message))
                        }
                        ErrorCode::HandlerException
                        | ErrorCode::HandlerTimeout
                        | ErrorCode::OutputSchemaFailure
                        | ErrorCode::UndeclaredErrorCode
                        | ErrorCode::Other(_) => Served::Failed(e),
                    }
                }
                Frame::Error(e) if e.request_id.is_none() => {
                    return Served::Broken(true, End::PeerError(e.code, e.message))
                }
                Frame::Response(_) | Frame::Error(_) => {
                    let detail = format!("an answer for another request than `{request_id}`");
                    let end = self.fail(ErrorCode::RequestIdMismatch, detail).await;
                    return Served::Broken(true, end);
                }
                Frame::SignRequest(sign) => {
                    let answer = self.sign(sign);
                    if let Err(end) = self.control(&answer).await {
                        return Served::Broken(true, end);
                    }
                }
                Frame::Ping(ping) => {
                    if let Err(end) = self.pong(ping).await {
                        return Served::Broken(true, end);
                    }
                }
                Frame::Pong(_) => {}
                Frame::Goodbye(_) => self.peer_goodbye = true,
                other => {
                    let detail = format!("`{}` while a request is in flight", other.type_name());
                    return Served::Broken(
                        true,
                        self.fail(ErrorCode::PhaseViolation, detail).await,
                    );
                }
            }
        }
    }

    fn sign(&self, request: runtime_protocol::SignRequest) -> Frame {
        let signer = self.gateway.settings().signer.clone();
        match signer.filter(|_| self.signing) {
            Some(signer) => match signer.answer(request) {
                Ok(response) => Frame::SignResponse(response),
                Err(error) => Frame::SignError(error),
            },
            None => Frame::SignError(signing::unavailable(request)),
        }
    }

    /// The deadline passed: tell the runtime (best effort) and end the connection, since
    /// the runtime may still be working on the request.
    async fn timed_out(&mut self, request_id: &str) -> Served {
        let error = Frame::Error(ErrorFrame {
            request_id: Some(request_id.to_owned()),
            code: ErrorCode::HandlerTimeout,
            message: "the deadline passed; the daemon answered the agent and closes".to_owned(),
            details: None,
        });
        let _ = timeout(Duration::from_millis(100), self.framed.send(&error)).await;
        Served::TimedOut
    }
}

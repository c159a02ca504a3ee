//! Dispatch: one call, from the gates to a pool's connection and back.
//!
//! The fast path takes an idle connection and hands it the request; only when every
//! connection is busy does the call wait in the pool's bounded queue. A connection that
//! dies under a request is retried on another only when no byte of the request can have
//! reached the runtime, or once when the endpoint is idempotent: a request is never
//! executed twice silently.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use runtime_protocol::{
    EndpointError, ErrorFrame, Frame, Reply, Request, RequestEnvelope, ResponseEnvelope, Trust,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

use super::pool::{Acquired, Job, NoLease, Outcome, Pool};
use super::Gateway;
use crate::telemetry;

/// How many times a call may meet a connection that closed before taking its request.
const MAX_UNDELIVERED: u32 = 8;

/// One call for a registered function, as the gates prepared it.
pub(crate) struct Call<'a> {
    /// The pool that serves the endpoint.
    pub(crate) pool: &'a str,
    /// Whether a second execution is harmless (`semantic.is_idempotent`).
    pub(crate) idempotent: bool,
    /// When the handler's time is up (its timeout, capped by the request's TTL).
    pub(crate) deadline: Instant,
    /// The frame's `request_id`: the exchange's `Response-ID`.
    pub(crate) request_id: String,
    /// The request envelope; an empty `request_id` is filled with the frame's.
    pub(crate) envelope: RequestEnvelope,
    /// How the caller's identity was established.
    pub(crate) trust: Option<Trust>,
}

/// Where one call spent its time, for the slow-request log. Copying it costs no allocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallTiming {
    /// The pool asked; `None` when it does not exist.
    pub(crate) pool: Option<Arc<str>>,
    /// The runtime process that took the request last, when known.
    pub(crate) pid: Option<u32>,
    /// Waiting for a free connection, every attempt together.
    pub(crate) queue_wait: Duration,
    /// From handing the request to a connection to its answer, every attempt together.
    pub(crate) round_trip: Duration,
}

/// Why a call got no reply from a handler.
#[derive(Debug)]
pub(crate) enum GatewayError {
    /// No connection is registered in the pool.
    Unavailable,
    /// Every connection is busy and the queue is full, or the wait expired.
    Busy,
    /// The connection died under the request and it could not be retried.
    Failed,
    /// No answer before the deadline.
    TimedOut,
    /// The runtime answered with an `error` (`handler_exception`).
    HandlerFailed(ErrorFrame),
    /// The handler returned an `endpoint_error`, declared or not.
    EndpointError(EndpointError),
    /// The request frame exceeds the gateway's frame limit.
    Unsendable(String),
}

impl Gateway {
    /// Runs `call` on a connection of its pool and returns the handler's reply, with
    /// where the call spent its time (also recorded in the pool's histograms).
    pub(crate) async fn call(&self, call: Call<'_>) -> (Result<Reply, GatewayError>, CallTiming) {
        let mut timing = CallTiming::default();
        let (pool, queue_length, queue_wait) = {
            let state = self.read();
            let Some(pool) = state.pools.get(call.pool) else {
                return (Err(GatewayError::Unavailable), timing);
            };
            let config = &state.settings.config;
            (pool.clone(), config.queue_length, config.queue_wait)
        };
        timing.pool = Some(pool.shared_name().clone());
        let span = telemetry::span!("gateway", agtp.pool = pool.name());
        let result = self
            .dispatch(&pool, call, queue_length, queue_wait, &mut timing)
            .instrument(span)
            .await;
        let stats = &pool.stats;
        let counter = match &result {
            Ok(_) | Err(GatewayError::HandlerFailed(_) | GatewayError::EndpointError(_)) => {
                &stats.n_served
            }
            Err(GatewayError::Unavailable) => &stats.n_rejected_unavailable,
            Err(GatewayError::Busy) => &stats.n_rejected_busy,
            Err(GatewayError::TimedOut) => &stats.n_timeouts,
            Err(GatewayError::Failed | GatewayError::Unsendable(_)) => &stats.n_failed,
        };
        counter.fetch_add(1, Relaxed);
        (result, timing)
    }

    async fn dispatch(
        &self,
        pool: &Arc<Pool>,
        call: Call<'_>,
        queue_length: usize,
        queue_wait: Duration,
        timing: &mut CallTiming,
    ) -> Result<Reply, GatewayError> {
        let Call {
            idempotent,
            deadline,
            request_id,
            mut envelope,
            trust,
            ..
        } = call;
        if envelope.request_id.is_empty() {
            envelope.request_id.clone_from(&request_id);
        }
        let mut frame = Frame::Request(Request {
            request_id,
            envelope,
            trust,
            deadline_ms: None,
        });
        let (mut retried, mut undelivered) = (false, 0);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(GatewayError::TimedOut);
            }
            // After one execution attempt, "no runtime" means this request failed.
            let gone = match retried {
                true => GatewayError::Failed,
                false => GatewayError::Unavailable,
            };
            let timings = &pool.timings;
            let lease = match pool.acquire(queue_length) {
                Acquired::Ready(lease) => {
                    timings.queue_wait.observe(0.0);
                    lease
                }
                Acquired::Unavailable => return Err(gone),
                Acquired::Full => return Err(GatewayError::Busy),
                Acquired::Queued(ticket) => {
                    let wait = queue_wait.min(deadline.saturating_duration_since(now));
                    let waited = ticket
                        .wait(wait)
                        .instrument(telemetry::span!("queue_wait"))
                        .await;
                    let elapsed = now.elapsed();
                    timing.queue_wait += elapsed;
                    timings.queue_wait.observe(elapsed.as_secs_f64());
                    match waited {
                        Ok(lease) => lease,
                        Err(NoLease::Expired) => return Err(GatewayError::Busy),
                        Err(NoLease::PoolGone) => return Err(gone),
                    }
                }
            };
            timing.pid = lease.pid();
            let round_trip = telemetry::span!(
                "round_trip",
                otel.kind = "client",
                process.pid = lease.pid().map(i64::from),
            );
            if let Frame::Request(request) = &mut frame {
                telemetry::inject(&round_trip, &mut request.envelope.headers);
            }
            let sent = Instant::now();
            let (reply, answer) = oneshot::channel();
            let busy = Busy::start(&pool.stats.n_busy);
            let outcome = match lease.send(Job {
                frame,
                deadline,
                reply,
            }) {
                Ok(()) => answer.instrument(round_trip).await.ok(),
                Err(job) => Some(Outcome::Broken {
                    written: false,
                    frame: job.frame,
                }),
            };
            drop(busy);
            let round_trip = sent.elapsed();
            timing.round_trip += round_trip;
            if let Some(Outcome::Answered(_) | Outcome::Failed(_) | Outcome::TimedOut) = &outcome {
                timings.round_trip.observe(round_trip.as_secs_f64());
            }
            match outcome {
                Some(Outcome::Answered(ResponseEnvelope::Reply(reply))) => return Ok(reply),
                Some(Outcome::Answered(ResponseEnvelope::EndpointError(error))) => {
                    return Err(GatewayError::EndpointError(error))
                }
                Some(Outcome::Failed(error)) => return Err(GatewayError::HandlerFailed(error)),
                Some(Outcome::TimedOut) => return Err(GatewayError::TimedOut),
                Some(Outcome::Unsendable(message)) => {
                    return Err(GatewayError::Unsendable(message))
                }
                Some(Outcome::Broken {
                    written: false,
                    frame: back,
                }) if undelivered < MAX_UNDELIVERED => {
                    undelivered += 1;
                    frame = back;
                }
                Some(Outcome::Broken {
                    written: true,
                    frame: back,
                }) if idempotent && !retried => {
                    tracing::info!(
                        pool = pool.name(),
                        "runtime connection died under an idempotent request; retrying once"
                    );
                    retried = true;
                    frame = back;
                }
                // Written to a connection that died, and not safe to run again.
                Some(Outcome::Broken { .. }) | None => return Err(GatewayError::Failed),
            }
        }
    }

    pub(super) fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Relaxed)
    }
}

/// Counts a connection as busy for as long as it lives (a dropped call included).
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn start(counter: &'a AtomicUsize) -> Busy<'a> {
        counter.fetch_add(1, Relaxed);
        Busy(counter)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests;

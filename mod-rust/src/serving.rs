//! The serving phase of one connection (PROTOCOL.md §8–§10): one request in flight at a time,
//! the connection read all along so that `ping`, `goodbye`, `error` and signing answers are
//! handled while the handler awaits. The handler's future is polled by the connection's own
//! task rather than spawned: a request then costs no task of its own and no wake-up of
//! another worker thread. A handler that blocks its thread instead of awaiting holds its
//! connection's frames (and its deadline) until it yields.

use std::future::{pending, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;

use runtime_protocol::{
    ErrorFrame, Frame, Goodbye, GoodbyeReason, Pong, Request, SignRequest, DEFAULT_HANDLER_TIMEOUT,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use crate::answer::{answer, exception, HandlerResult, Panic};
use crate::connection::{FrameReader, FrameWriter, WireError};
use crate::context::Context;
use crate::ending::{peer_error, unexpected, Ended, Failure, Lost};
use crate::router::Routes;
use crate::shared::Shared;
use crate::sign::{self, SignOp, Signature, Signer, SigningError};

/// How long a connection that said `goodbye` waits, once idle, for the daemon to close it.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Stand-in for a deadline too far away to represent.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

/// A registered connection, serving.
pub(crate) struct Serving<'a> {
    shared: &'a Shared,
    reader: FrameReader,
    writer: FrameWriter,
    routes: Routes,
    /// Whether `welcome` granted `sign_request`.
    can_sign: bool,
    in_flight: Option<InFlight>,
    /// Counter behind `sign_request.operation_id`.
    n_sign_ops: u64,
    /// We sent `goodbye`: the runtime is stopping.
    said_goodbye: bool,
    /// The daemon sent `goodbye`, with this reason.
    daemon_goodbye: Option<Option<GoodbyeReason>>,
    /// Once idle after our `goodbye`: when to stop waiting for the daemon to close.
    drain_until: Option<Instant>,
    /// A request whose deadline passed (its handler aborted), and how long we wait for
    /// the daemon to close the connection before closing it ourselves.
    abandoned: Option<(String, Instant)>,
}

/// The request in flight and its handler.
struct InFlight {
    request_id: String,
    /// Dropped when the request is abandoned, which stops the handler.
    handler: Handling,
    deadline: Instant,
    /// Sign operations from the handler's [`Context`].
    sign_ops: mpsc::Receiver<SignOp>,
    /// The operation the daemon is signing: its id and where the answer goes.
    signing: Option<(String, oneshot::Sender<Result<Signature, SigningError>>)>,
}

/// A running handler; a panic in it is caught, so the connection lives on.
type Handling = Pin<Box<dyn Future<Output = Result<HandlerResult, Panic>> + Send>>;

/// What woke the serving loop.
// Built and matched at once, never stored: boxing the frame would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Event {
    Frame(Result<Option<Frame>, WireError>),
    Done(Result<HandlerResult, Panic>),
    Sign(SignOp),
    Deadline,
    Stop,
    DrainOver,
}

impl<'a> Serving<'a> {
    pub(crate) fn new(
        shared: &'a Shared,
        reader: FrameReader,
        writer: FrameWriter,
        routes: Routes,
        can_sign: bool,
    ) -> Self {
        Serving {
            shared,
            reader,
            writer,
            routes,
            can_sign,
            in_flight: None,
            n_sign_ops: 0,
            said_goodbye: false,
            daemon_goodbye: None,
            drain_until: None,
            abandoned: None,
        }
    }

    pub(crate) async fn run(mut self) -> Result<Ended, Failure> {
        loop {
            if self.in_flight.is_none() {
                if let Some(reason) = self.daemon_goodbye.clone() {
                    if self.said_goodbye {
                        return Ok(Ended::Stopped);
                    }
                    // Best effort: the daemon may already have closed.
                    let _ = self.writer.write(&goodbye(reason.clone())).await;
                    return Ok(Ended::Goodbye(reason));
                }
            }
            match self.next_event().await {
                Event::Frame(Ok(Some(frame))) => self.on_frame(frame).await?,
                Event::Frame(Ok(None)) if self.said_goodbye && self.in_flight.is_none() => {
                    return Ok(Ended::Stopped);
                }
                Event::Frame(Ok(None)) => return Err(Failure::Lost(Lost::Closed)),
                Event::Frame(Err(err)) => {
                    if let WireError::Decode(decode) = &err {
                        if let Some(frame) = decode.to_error_frame() {
                            let _ = self.writer.write(&Frame::Error(frame)).await;
                        }
                    }
                    return Err(err.into());
                }
                Event::Done(result) => {
                    let Some(in_flight) = self.in_flight.take() else {
                        continue;
                    };
                    self.writer
                        .write(&answer(in_flight.request_id, result))
                        .await?;
                    if self.said_goodbye {
                        self.drain_until = Some(Instant::now() + DRAIN_GRACE);
                    }
                }
                Event::Sign(op) => self.start_signing(op).await?,
                Event::Deadline => {
                    // Dropping `InFlight` aborts the handler. Closing is the daemon's move
                    // (§8.4): it answers the agent 504 and closes. Closing first would race
                    // it and could turn that 504 into a 503; only a daemon that stays
                    // silent past the grace gets the close from us.
                    if let Some(in_flight) = self.in_flight.take() {
                        self.abandoned = Some((in_flight.request_id, Instant::now() + DRAIN_GRACE));
                        continue;
                    }
                    let id = self.abandoned.take().map(|(id, _)| id);
                    return Err(Failure::Lost(Lost::Deadline(id.unwrap_or_default())));
                }
                Event::Stop => {
                    self.writer
                        .write(&goodbye(Some(GoodbyeReason::Shutdown)))
                        .await?;
                    self.said_goodbye = true;
                    if self.in_flight.is_none() {
                        self.drain_until = Some(Instant::now() + DRAIN_GRACE);
                    }
                }
                Event::DrainOver => return Ok(Ended::Stopped),
            }
        }
    }

    /// Waits for whatever happens next. Every branch is cancel-safe.
    async fn next_event(&mut self) -> Event {
        let drain_until = self.drain_until.filter(|_| self.in_flight.is_none());
        let (handler, sign_ops, deadline) = match &mut self.in_flight {
            Some(f) => {
                // One sign operation at a time per connection (§9).
                let ops = f.signing.is_none().then_some(&mut f.sign_ops);
                (Some(&mut f.handler), ops, Some(f.deadline))
            }
            None => (None, None, self.abandoned.as_ref().map(|(_, until)| *until)),
        };
        // Frames first, so a daemon `error` about the request beats our own deadline.
        tokio::select! {
            biased;
            frame = self.reader.read() => Event::Frame(frame),
            result = maybe(handler) => Event::Done(result),
            op = next_op(sign_ops) => Event::Sign(op),
            () = maybe_sleep(deadline) => Event::Deadline,
            () = self.shared.stop.cancelled(), if !self.said_goodbye => Event::Stop,
            () = maybe_sleep(drain_until) => Event::DrainOver,
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<(), Failure> {
        match frame {
            Frame::Ping(ping) => {
                let pong = Frame::Pong(Pong { nonce: ping.nonce });
                self.writer.write(&pong).await?;
            }
            Frame::Pong(_) => {}
            Frame::Request(request) if self.in_flight.is_none() => self.start(request).await?,
            Frame::Goodbye(goodbye) => self.daemon_goodbye = Some(goodbye.reason),
            Frame::Error(err) => self.on_error(err)?,
            Frame::SignResponse(res) if self.is_signing(&res.operation_id) => {
                self.finish_signing(sign::from_response(res));
            }
            Frame::SignError(err) if self.is_signing(&err.operation_id) => {
                self.finish_signing(Err(sign::from_error(err.code, err.message)));
            }
            other => return Err(unexpected(&mut self.writer, other, "serving").await),
        }
        Ok(())
    }

    /// Routes a request and starts its handler; a request no bound endpoint serves is
    /// answered at once with `handler_exception`.
    async fn start(&mut self, request: Request) -> Result<(), Failure> {
        self.abandoned = None;
        let now = Instant::now();
        let budget = request
            .deadline_ms
            .map_or(DEFAULT_HANDLER_TIMEOUT, Duration::from_millis);
        let deadline = now.checked_add(budget).unwrap_or(now + FAR_FUTURE);
        let mut envelope = request.envelope;
        let input = std::mem::take(&mut envelope.input);
        let Some(matched) = self.routes.find(&envelope.method, &envelope.path) else {
            let message = format!(
                "no bound endpoint serves `{} {}`",
                envelope.method, envelope.path
            );
            let error = exception(request.request_id, message, None);
            return Ok(self.writer.write(&error).await?);
        };
        let handler = matched.handler.clone();
        let endpoint_path = matched.path.to_owned();
        let (sign_tx, sign_ops) = mpsc::channel(1);
        let signer = self.can_sign.then_some(Signer(sign_tx));
        let ctx = Context::new(
            request.request_id.clone(),
            envelope,
            request.trust,
            deadline,
            endpoint_path,
            matched.params,
            signer,
        );
        let handling = AssertUnwindSafe(handler(ctx, input)).catch_unwind();
        self.in_flight = Some(InFlight {
            request_id: request.request_id,
            handler: Box::pin(handling),
            deadline,
            sign_ops,
            signing: None,
        });
        Ok(())
    }

    /// An `error` from the daemon while serving (§11).
    fn on_error(&mut self, err: ErrorFrame) -> Result<(), Failure> {
        let in_flight = self.in_flight.as_ref().map(|f| f.request_id.as_str());
        match err.request_id.as_deref() {
            None => Err(peer_error(err)),
            // The daemon gave up on the request in flight (`handler_timeout`): it closes the
            // connection, and dropping `InFlight` aborts the handler.
            Some(id) if Some(id) == in_flight => {
                self.in_flight = None;
                Err(peer_error(err))
            }
            // About an answer already sent, e.g. `output_schema_failure`: a handler bug the
            // developer needs to see; the connection carries on.
            Some(id) => {
                tracing::warn!(request_id = id, code = %err.code, message = %err.message,
                    details = ?err.details, "the daemon rejected a handler's answer");
                Ok(())
            }
        }
    }

    async fn start_signing(&mut self, op: SignOp) -> Result<(), Failure> {
        let Some(in_flight) = &mut self.in_flight else {
            return Ok(());
        };
        self.n_sign_ops += 1;
        let operation_id = format!("sign-{}", self.n_sign_ops);
        let frame = Frame::SignRequest(SignRequest {
            operation_id: operation_id.clone(),
            data_b64: sign::encode_data(&op.data),
        });
        in_flight.signing = Some((operation_id, op.reply));
        Ok(self.writer.write(&frame).await?)
    }

    fn is_signing(&self, operation_id: &str) -> bool {
        let signing = self.in_flight.as_ref().and_then(|f| f.signing.as_ref());
        signing.is_some_and(|(id, _)| id == operation_id)
    }

    fn finish_signing(&mut self, result: Result<Signature, SigningError>) {
        if let Some((_, reply)) = self.in_flight.as_mut().and_then(|f| f.signing.take()) {
            // The handler may have stopped waiting; nothing to do then.
            let _ = reply.send(result);
        }
    }
}

fn goodbye(reason: Option<GoodbyeReason>) -> Frame {
    Frame::Goodbye(Goodbye { reason })
}

async fn maybe<F: Future + Unpin>(future: Option<F>) -> F::Output {
    match future {
        Some(future) => future.await,
        None => pending().await,
    }
}

async fn maybe_sleep(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}

async fn next_op(ops: Option<&mut mpsc::Receiver<SignOp>>) -> SignOp {
    match ops {
        Some(ops) => match ops.recv().await {
            Some(op) => op,
            // Every `Context` is gone; the handler's result arrives on its own branch.
            None => pending().await,
        },
        None => pending().await,
    }
}

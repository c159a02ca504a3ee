//! One client connection: read a request, answer it, repeat.
//!
//! Requests on a connection are answered strictly in order. Responses to pipelined
//! requests are queued and written together just before the connection next waits for
//! input, so a pipelined burst costs one write. Each wait has its own deadline:
//! idle (no request started), header (first byte to end of head), body, and write.
//!
//! Memory per connection is bounded (README.md, "Limits"): a read takes at most what the
//! request being read still needs plus [`READ_AHEAD`]; once [`QUEUED_OUTPUT`] bytes of
//! answers wait, they are written (and the peer must read them, within the write timeout)
//! before another pipelined request is parsed; and buffers grown by a large request or
//! answer go back to their first size once it is done.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agtp_core::encode::encode_response;
use agtp_core::module::{AgentCertificate, Cx};
use agtp_core::parse::{Head, RequestParser};
use agtp_core::{AgtpError, Request, Response, Status, WireError};
use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::access::{Exchange, Trace};
use crate::metrics::LastLabels;
use crate::mtls::Refusal;
use crate::settings::Settings;
use crate::telemetry;

/// Why a connection stops reading requests.
enum Stop {
    /// The peer closed, went idle, or the daemon is draining: close quietly.
    Quiet,
    /// The peer broke the protocol or a deadline: answer, then close.
    Refuse(AgtpError),
}

impl From<WireError> for Stop {
    fn from(error: WireError) -> Self {
        Stop::Refuse(error.to_agtp_error())
    }
}

impl From<io::Error> for Stop {
    fn from(_: io::Error) -> Self {
        Stop::Quiet
    }
}

/// The two stages of the daemon's drain.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    /// Cancelled when the drain begins: an idle connection closes, a busy one after its
    /// answer.
    pub(crate) drain: CancellationToken,
    /// Cancelled at the drain deadline: a request still being answered gets 503
    /// `shutting-down` instead, and the connection closes.
    pub(crate) cut: CancellationToken,
}

pub(crate) struct Connection<S> {
    /// The socket, plain or TLS.
    io: S,
    peer: SocketAddr,
    /// The settings in force when the connection was accepted; a reload applies to the
    /// next connection.
    settings: Arc<Settings>,
    /// The daemon's drain, as this connection sees it.
    shutdown: Shutdown,
    /// The head parser, which keeps its scan position between reads.
    parser: RequestParser,
    /// Bytes read and not yet parsed.
    input: BytesMut,
    /// Encoded answers not yet written.
    output: BytesMut,
    /// When the request being read started: its first byte, or the loop turn that found
    /// it already buffered (pipelined).
    started: Instant,
    /// The request metrics' handles for this connection's last labels.
    last_labels: LastLabels,
    /// The client certificate the TLS handshake verified, read once per connection.
    certificate: Option<Result<Arc<AgentCertificate>, Refusal>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub(crate) fn new(
        io: S,
        peer: SocketAddr,
        settings: Arc<Settings>,
        shutdown: Shutdown,
    ) -> Self {
        Connection {
            io,
            peer,
            parser: RequestParser::new(settings.limits),
            settings,
            shutdown,
            input: BytesMut::with_capacity(BUFFER),
            output: BytesMut::with_capacity(BUFFER),
            started: Instant::now(),
            last_labels: LastLabels::default(),
            certificate: None,
        }
    }

    /// What the connection's verified client certificate proves, when it presented one.
    pub(crate) fn with_certificate(
        mut self,
        certificate: Option<Result<Arc<AgentCertificate>, Refusal>>,
    ) -> Self {
        self.certificate = certificate;
        self
    }

    /// Serves requests until the peer leaves, asks to close, breaks the protocol, or the
    /// daemon drains.
    pub(crate) async fn run(mut self) {
        loop {
            // Restarted when the first byte of the request arrives, so idle time between
            // requests is not counted as the request's duration.
            self.started = Instant::now();
            let request = match self.read_request().await {
                Ok(request) => request,
                Err(Stop::Quiet) => break,
                Err(Stop::Refuse(error)) => return self.refuse(None, error).await,
            };
            // A certificate that proves no agent is refused at the first request.
            if let Some(Err(refusal)) = &self.certificate {
                let error = refusal.to_error();
                return self.refuse(Some(&request), error).await;
            }
            let (mut cx, mut trace) = (self.exchange_cx(), Trace::default());
            let span = telemetry::request_span(&request, &cx.response_id);
            let answer = crate::gates::answer(&request, &self.settings, &mut cx, &mut trace)
                .instrument(span.clone());
            let mut response = tokio::select! {
                biased;
                response = answer => response,
                () = self.shutdown.cut.cancelled() => cut_short(),
            };
            // After the answer: a drain that began while it ran closes this connection too.
            let close = request.wants_close() || self.shutdown.drain.is_cancelled();
            let stamp = (cx.response_id.as_str(), Some(&request.headers));
            self.settings.finalize(&mut response, stamp, close);
            // After stamping, before writing: modules see the response as written.
            self.complete(Some(&request), &mut response, &cx, &mut trace)
                .instrument(span.clone())
                .await;
            telemetry::record_status(&span, response.status);
            drop(span);
            self.queue(&response);
            if close {
                break;
            }
            // Backpressure: a peer that pipelines without reading gets no further answers
            // computed until it has read these.
            if self.output.len() >= QUEUED_OUTPUT && self.flush().await.is_err() {
                return;
            }
        }
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }

    /// Answers `error` and closes; every exchange reaches the modules' `on_complete`,
    /// unparseable ones too.
    async fn refuse(&mut self, request: Option<&Request>, error: AgtpError) {
        let mut response = error.to_response();
        let (cx, mut trace) = (self.exchange_cx(), Trace::default());
        let echo = request.map(|r| &r.headers);
        self.settings
            .finalize(&mut response, (&cx.response_id, echo), true);
        self.complete(request, &mut response, &cx, &mut trace).await;
        self.queue(&response);
        self.close_gracefully().await;
    }

    /// A new exchange's context, with its `Response-ID`.
    fn exchange_cx(&self) -> Cx {
        let mut cx = Cx::default();
        cx.response_id = crate::settings::response_id();
        cx.client_address = Some(self.peer);
        cx.certificate = match &self.certificate {
            Some(Ok(certificate)) => Some(certificate.clone()),
            _ => None,
        };
        cx
    }

    /// The modules' `on_complete`, then the access log, metrics and slow-request log.
    async fn complete(
        &mut self,
        request: Option<&Request>,
        response: &mut Response,
        cx: &Cx,
        trace: &mut Trace,
    ) {
        let pipeline = &self.settings.pipeline;
        if !pipeline.is_empty() {
            let entered = Instant::now();
            pipeline
                .complete(request, response, cx, self.started.elapsed())
                .await;
            trace.modules += entered.elapsed();
        }
        let exchange = Exchange {
            request,
            response,
            cx,
            trace,
            started: self.started,
        };
        crate::access::finish(&self.settings, self.peer, exchange, &mut self.last_labels);
    }

    fn queue(&mut self, response: &Response) {
        encode_response(response, &mut self.output);
    }

    /// Reads one whole request, head and body.
    async fn read_request(&mut self) -> Result<Request, Stop> {
        let head = self.read_head().await?;
        self.input.advance(head.len);
        let head_len = head.len;
        let Head {
            message: mut request,
            content_length,
            ..
        } = head;
        // content_length <= limits.max_body, which validation keeps within usize.
        let length = usize::try_from(content_length).unwrap_or(usize::MAX);
        let deadline = Instant::now() + self.settings.timeouts.body;
        while self.input.len() < length {
            let needed = length - self.input.len();
            self.read_more(deadline, "body", needed).await?;
        }
        request.body = self.input.split_to(length).freeze();
        // The body shares the input's allocation, which a large request grew: what is left
        // moves to a buffer of the first size, so that the allocation goes with the body.
        if head_len + length > BUFFER {
            let mut fresh = BytesMut::with_capacity(BUFFER.max(self.input.len()));
            fresh.extend_from_slice(&self.input);
            self.input = fresh;
        }
        Ok(request)
    }

    async fn read_head(&mut self) -> Result<Head<Request>, Stop> {
        let mut deadline = None;
        loop {
            if let Some(head) = self.parser.parse(&self.input)? {
                return Ok(head);
            }
            if self.input.is_empty() {
                self.wait_for_request().await?;
                continue;
            }
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + self.settings.timeouts.header);
            self.read_more(deadline, "header", 0).await?;
        }
    }

    /// Waits for the first byte of the next request, within the idle timeout and only
    /// until the daemon starts draining.
    async fn wait_for_request(&mut self) -> Result<(), Stop> {
        self.flush().await?;
        let idle = self.settings.timeouts.idle;
        let mut input = (&mut self.input).limit(READ_AHEAD);
        let read = tokio::select! {
            biased;
            read = timeout(idle, self.io.read_buf(&mut input)) => read,
            // A request already on its way when the drain began is still answered (with
            // `Connection: close`): the socket gets a moment to show it before closing.
            _ = self.shutdown.drain.cancelled() => timeout(DRAIN_READ, self.io.read_buf(&mut input)).await,
        };
        match read {
            Ok(Ok(0)) | Err(_) => Err(Stop::Quiet),
            Ok(Ok(_)) => {
                self.started = Instant::now();
                Ok(())
            }
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// Reads what the request being read still `needs` (0: its head's end is not known
    /// yet), and at most [`READ_AHEAD`] bytes more.
    async fn read_more(
        &mut self,
        deadline: Instant,
        phase: &'static str,
        needs: usize,
    ) -> Result<(), Stop> {
        // Answers queued for pipelined requests go out before the connection waits.
        self.flush().await?;
        let most = needs.saturating_add(READ_AHEAD);
        self.input.reserve(most);
        let mut input = (&mut self.input).limit(most);
        match timeout_at(deadline, self.io.read_buf(&mut input)).await {
            Ok(Ok(0)) => Err(Stop::Quiet),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Stop::Refuse(AgtpError::new(
                Status::TIMEOUT,
                "request-timeout",
                format!("the request {phase} was not received in time"),
            ))),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.io.write_all(&self.output).await?;
            self.io.flush().await
        };
        let result = match timeout(self.settings.timeouts.write, write).await {
            Ok(result) => result,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        };
        self.output.clear();
        if self.output.capacity() > QUEUED_OUTPUT {
            self.output = BytesMut::with_capacity(BUFFER);
        }
        result
    }

    /// Sends the queued error answer, then closes without resetting ([`linger`]): the
    /// peer may still be sending (an oversized body, say).
    async fn close_gracefully(&mut self) {
        if self.flush().await.is_ok() {
            linger(&mut self.io, LINGER).await;
        }
    }
}

/// Closes without resetting: shuts the write side, then discards what the peer still
/// sends until it closes or `limit` passes, so that an answer already written is not
/// destroyed by a reset over unread input.
pub(crate) async fn linger<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, limit: Duration) {
    if io.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 8 * 1024];
    let _ = timeout(limit, async {
        while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The answer to a request still in flight at the drain deadline.
fn cut_short() -> Response {
    retry_later(
        "shutting-down",
        "the server is shutting down and could not finish this request; retry elsewhere or later",
    )
}

/// A 503 with `code` that asks the client to retry in a second (`Retry-After: 1`).
pub(crate) fn retry_later(code: &'static str, message: &'static str) -> Response {
    let mut response = AgtpError::new(Status::UNAVAILABLE, code, message).to_response();
    response.headers.append("Retry-After", "1");
    response
}

/// The first size of a connection's input and output buffers.
const BUFFER: usize = 8 * 1024;

/// The most a read takes beyond what the request being read needs.
const READ_AHEAD: usize = 16 * 1024;

/// Answers queued for pipelined requests past which they are written before the next
/// request is parsed.
const QUEUED_OUTPUT: usize = 64 * 1024;

/// How long an idle connection waits for a request already on its way once the daemon
/// drains.
const DRAIN_READ: Duration = Duration::from_millis(20);

/// How long a refused connection keeps discarding input before it closes.
const LINGER: Duration = Duration::from_secs(2);

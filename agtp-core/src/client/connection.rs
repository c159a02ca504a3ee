//! One client connection: write a request, read its response, keep the connection for the
//! next one. Requests are not pipelined; each waits for the response before the next.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::{ClientConfig, ClientError};
use crate::encode::encode_request;
use crate::parse::parse_response_head;
use crate::{Limits, Request, Response};

/// A keep-alive AGTP/1.0 connection over any byte stream: plain TCP, TLS, or an
/// in-memory pipe in tests.
///
/// After an error, a timeout, or a `Connection: close` from either side the connection
/// is no longer [reusable](Connection::is_reusable) and every further send fails with
/// [`ClientError::Unusable`]; opening a new one is the caller's (or [`super::Client`]'s)
/// job.
#[derive(Debug)]
pub struct Connection<S> {
    io: S,
    peer: String,
    limits: Limits,
    response_timeout: Duration,
    read: BytesMut,
    write: BytesMut,
    reusable: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection over `io`, with the response limits and timeout of `config`.
    pub fn new(io: S, config: &ClientConfig) -> Self {
        Connection {
            io,
            peer: "the peer".to_owned(),
            limits: config.response_limits,
            response_timeout: config.response_timeout,
            read: BytesMut::with_capacity(8 * 1024),
            write: BytesMut::with_capacity(1024),
            reusable: true,
        }
    }

    /// Names the peer (`host:port`) in error messages.
    pub fn with_peer(mut self, authority: impl Into<String>) -> Self {
        self.peer = authority.into();
        self
    }

    /// Replaces the response timeout for the exchanges that follow.
    pub fn set_response_timeout(&mut self, timeout: Duration) {
        self.response_timeout = timeout;
    }

    /// Sends `request` and reads its response, all within the response timeout.
    pub async fn send(&mut self, request: &Request) -> Result<Response, ClientError> {
        let mut out = std::mem::take(&mut self.write);
        out.clear();
        encode_request(request, &mut out);
        let result = self.send_encoded(&out).await;
        self.write = out;
        if request.wants_close() {
            self.reusable = false;
        }
        result
    }

    /// Sends one request already encoded with [`encode_request`] and reads its response.
    /// For callers that send the same request many times (a load generator): encode once,
    /// send the bytes each time. `bytes` must hold exactly one request.
    pub async fn send_encoded(&mut self, bytes: &[u8]) -> Result<Response, ClientError> {
        if !self.reusable {
            return Err(ClientError::Unusable);
        }
        // Reusable again only once a whole response has arrived without `close`.
        self.reusable = false;
        let after = self.response_timeout;
        let response = tokio::time::timeout(after, self.exchange(bytes))
            .await
            .map_err(|_| ClientError::Timeout { after })??;
        self.reusable = !wants_close(&response);
        Ok(response)
    }

    /// Whether another request may be sent on this connection.
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Checks, without waiting, that an idle connection is still open and quiet. A peer
    /// that closed it (idle timeout) or sent something unasked makes it unusable.
    pub async fn check_idle(&mut self) -> bool {
        if !self.reusable || !self.read.is_empty() {
            self.reusable = false;
            return false;
        }
        let mut byte = [0u8; 1];
        let io = &mut self.io;
        let open = poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut byte);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Pending => Poll::Ready(true),
                // EOF, an error, or bytes nobody asked for.
                Poll::Ready(_) => Poll::Ready(false),
            }
        })
        .await;
        self.reusable = open;
        open
    }

    async fn exchange(&mut self, bytes: &[u8]) -> Result<Response, ClientError> {
        let written = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        }
        .await;
        match written {
            Ok(()) => self.read_response().await,
            // A server that refuses a request may answer and close before reading all
            // of it; its answer is still worth reading.
            Err(error) => self
                .read_response()
                .await
                .map_err(|_| ClientError::io(error, &self.peer)),
        }
    }

    async fn read_response(&mut self) -> Result<Response, ClientError> {
        loop {
            if let Some(head) = parse_response_head(&self.read, &self.limits)? {
                // content_length <= limits.max_body, checked by the parser.
                let body_len = usize::try_from(head.content_length).unwrap_or(usize::MAX);
                let total = head.len.saturating_add(body_len);
                if self.read.len() < total {
                    self.read.reserve(total - self.read.len());
                }
                while self.read.len() < total {
                    self.read_more().await?;
                }
                let mut message = self.read.split_to(total);
                let mut response = head.message;
                response.body = message.split_off(head.len).freeze();
                return Ok(response);
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> Result<(), ClientError> {
        if self.read.capacity() - self.read.len() < 1024 {
            self.read.reserve(8 * 1024);
        }
        match self.io.read_buf(&mut self.read).await {
            Ok(0) => Err(ClientError::Closed {
                received: self.read.len(),
            }),
            Ok(_) => Ok(()),
            Err(error) => Err(ClientError::io(error, &self.peer)),
        }
    }
}

fn wants_close(response: &Response) -> bool {
    response
        .headers
        .get_all("connection")
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

//! [`Client`]: writes raw bytes, reads AGTP responses parsed by `agtp-core`, so a test
//! can send anything, malformed input included.

use agtp_core::parse::parse_response;
use agtp_core::{Limits, Response};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A client that writes raw bytes and reads AGTP responses.
pub struct Client<S> {
    pub stream: S,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next response, or `None` if the server closed first.
    pub async fn try_response(&mut self) -> Option<Response> {
        let limits = Limits {
            max_body: 64 << 20,
            ..Limits::default()
        };
        loop {
            if let Some((response, used)) =
                parse_response(&self.buf, &limits).expect("server sent a valid response")
            {
                let _ = self.buf.split_to(used);
                return Some(response);
            }
            if self.stream.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                assert!(
                    self.buf.is_empty(),
                    "server closed mid-response: {:?}",
                    self.buf
                );
                return None;
            }
        }
    }

    pub async fn response(&mut self) -> Response {
        self.try_response()
            .await
            .expect("a response before the connection closed")
    }

    pub async fn exchange(&mut self, bytes: impl AsRef<[u8]>) -> Response {
        self.send(bytes).await;
        self.response().await
    }

    /// Whether the server has closed the connection (EOF or reset, with nothing unread).
    pub async fn is_closed(&mut self) -> bool {
        matches!(self.stream.read_buf(&mut self.buf).await, Ok(0) | Err(_)) && self.buf.is_empty()
    }
}

/// The `error.code` of an envelope response.
pub fn error_code(response: &Response) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON body");
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned()
}

/// The `error.message` of an envelope response.
pub fn error_message(response: &Response) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON body");
    body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned()
}

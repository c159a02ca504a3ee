//! Opening a transport to an [`Origin`]: resolve, TCP connect (each address in turn),
//! then the TLS handshake when the origin asks for it, all within the connect timeout.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{tls, ClientError, Origin};

/// A plaintext or TLS connection to an AGTP server.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (loopback development servers).
    Plain(TcpStream),
    /// TLS 1.3 over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Opens a stream to `origin`; `tls` must be set when the origin speaks TLS.
pub(crate) async fn open(
    origin: &Origin,
    tls: Option<&TlsConnector>,
    timeout: Duration,
) -> Result<Stream, ClientError> {
    let authority = origin.authority();
    let opening = async {
        let tcp = connect_tcp(origin, &authority).await?;
        match tls {
            None => Ok(Stream::Plain(tcp)),
            Some(connector) => {
                let name = tls::server_name(origin.host())?;
                let stream =
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|error| ClientError::Tls {
                            authority: authority.clone(),
                            reason: tls_reason(&error),
                        })?;
                Ok(Stream::Tls(Box::new(stream)))
            }
        }
    };
    match tokio::time::timeout(timeout, opening).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::ConnectTimeout {
            authority,
            after: timeout,
        }),
    }
}

async fn connect_tcp(origin: &Origin, authority: &str) -> Result<TcpStream, ClientError> {
    let addrs = tokio::net::lookup_host((origin.host(), origin.port()))
        .await
        .map_err(|error| ClientError::Resolve {
            host: origin.host().to_owned(),
            reason: super::error::describe_io(&error),
        })?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Requests go out in one write; do not let Nagle hold the next one back.
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(error) => last = Some(error),
        }
    }
    Err(match last {
        Some(source) => ClientError::Connect {
            authority: authority.to_owned(),
            source,
        },
        None => ClientError::Resolve {
            host: origin.host().to_owned(),
            reason: "no addresses".to_owned(),
        },
    })
}

/// The handshake error's text. A peer that closes mid-handshake or answers with
/// something that is not a TLS record usually does not speak TLS; say so.
fn tls_reason(error: &io::Error) -> String {
    let not_tls = match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidMessage(_)) => true,
        Some(_) => false,
        None => matches!(
            error.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ),
    };
    let reason = match error.get_ref() {
        Some(inner) => inner.to_string(),
        None => super::error::describe_io(error),
    };
    if not_tls {
        format!("{reason}; does the server speak TLS?")
    } else {
        reason
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

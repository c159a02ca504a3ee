//! The one harness the integration tests share: a real daemon on 127.0.0.1:0 stopped by
//! a oneshot, and a raw-bytes client that parses answers with agtp-core.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod admin;
pub mod running;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agtp_core::module::Module;
use agtp_core::parse::parse_response;
use agtp_core::{Limits, Response};
use agtpd::config::Config;
use agtpd::gateway::GatewayListener;
use agtpd::Daemon;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A daemon serving one loopback listener in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub daemon: Arc<Daemon>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        TestServer::start_with_gateway(config, Vec::new()).await
    }

    /// Also serves runtimes on `gateway` (the tests bind it, usually in a temp dir).
    pub async fn start_with_gateway(config: Config, gateway: Vec<GatewayListener>) -> TestServer {
        config.validate(false).expect("test config is valid");
        let daemon = Daemon::new(&config).expect("daemon builds");
        TestServer::serve(daemon, gateway).await
    }

    /// Runs exactly `modules`, in this order (test modules; `agtpd::modules::build`
    /// gives the configured ones).
    pub async fn start_with_modules(config: Config, modules: Vec<Arc<dyn Module>>) -> TestServer {
        TestServer::start_with_gateway_and_modules(config, Vec::new(), modules).await
    }

    /// Runs `modules` and serves runtimes on `gateway`.
    pub async fn start_with_gateway_and_modules(
        config: Config,
        gateway: Vec<GatewayListener>,
        modules: Vec<Arc<dyn Module>>,
    ) -> TestServer {
        config.validate(false).expect("test config is valid");
        let daemon = Daemon::with_modules(&config, modules).expect("daemon builds");
        TestServer::serve(daemon, gateway).await
    }

    async fn serve(daemon: Daemon, gateway: Vec<GatewayListener>) -> TestServer {
        let daemon = Arc::new(daemon);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = daemon.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(vec![listener], gateway, async {
                    let _ = stopped.await;
                })
                .await
        });
        TestServer {
            addr,
            daemon,
            stop: Some(stop),
            task,
        }
    }

    pub async fn default() -> TestServer {
        TestServer::start(Config::default()).await
    }

    pub async fn client(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.unwrap())
    }

    /// Starts the drain and returns the task that finishes when the daemon has stopped.
    pub fn begin_stop(&mut self) -> &mut JoinHandle<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        &mut self.task
    }

    pub async fn stop(mut self) {
        let task = self.begin_stop();
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("daemon stops")
            .unwrap();
    }
}

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

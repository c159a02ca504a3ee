//! [`Client`]: connections to any number of origins, kept open between requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::stream::{self, Stream};
use super::{ClientConfig, ClientError, Connection, Origin};
use crate::{Request, Response};

/// An AGTP client: opens connections on demand and keeps up to
/// [`ClientConfig::max_idle_per_host`] idle ones per origin for the next request.
///
/// Cheap to clone; clones share the idle connections. A connection is returned to the
/// pool only after a complete response without `Connection: close`. An idle connection
/// is checked before reuse and dropped if the server closed it or it sat longer than
/// [`ClientConfig::idle_timeout`].
///
/// A request is never sent twice: if the server closes a reused connection at the very
/// moment the request goes out, the error ([`ClientError::Closed`]) is the caller's to
/// handle, because only the caller knows whether the request is safe to repeat.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    /// Built on first use, so a plaintext-only client never reads the system roots.
    tls: OnceLock<Arc<rustls::ClientConfig>>,
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
}

/// How long one request may take to connect and to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Resolving, connecting and the TLS handshake (when a new connection is needed).
    pub connect: Duration,
    /// From the first byte of the request written to the last byte of its response.
    pub response: Duration,
}

#[derive(Debug)]
struct Idle {
    connection: Connection<Stream>,
    since: Instant,
}

impl Client {
    /// A client with `config`.
    pub fn new(config: ClientConfig) -> Client {
        Client {
            inner: Arc::new(Inner {
                config,
                tls: OnceLock::new(),
                idle: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Sends `request` to `origin` on an idle connection if there is a live one, on a
    /// new one otherwise.
    pub async fn send(&self, origin: &Origin, request: &Request) -> Result<Response, ClientError> {
        let config = &self.inner.config;
        let deadlines = Deadlines {
            connect: config.connect_timeout,
            response: config.response_timeout,
        };
        self.send_within(origin, request, deadlines).await
    }

    /// [`send`](Self::send) with this request's own connect and response timeouts
    /// instead of the configuration's (a reverse proxy whose routes differ).
    pub async fn send_within(
        &self,
        origin: &Origin,
        request: &Request,
        deadlines: Deadlines,
    ) -> Result<Response, ClientError> {
        let mut connection = match self.checkout(origin).await {
            Some(connection) => connection,
            None => self.open(origin, deadlines.connect).await?,
        };
        connection.set_response_timeout(deadlines.response);
        let response = connection.send(request).await?;
        self.checkin(origin, connection);
        Ok(response)
    }

    /// Opens a new connection to `origin`, not shared with the pool: resolve, connect
    /// and (for TLS origins) handshake, within the connect timeout.
    pub async fn connect(&self, origin: &Origin) -> Result<Connection<Stream>, ClientError> {
        self.open(origin, self.inner.config.connect_timeout).await
    }

    async fn open(
        &self,
        origin: &Origin,
        timeout: Duration,
    ) -> Result<Connection<Stream>, ClientError> {
        let tls = if origin.is_tls() {
            Some(self.tls_connector()?)
        } else {
            None
        };
        let stream = stream::open(origin, tls.as_ref(), timeout).await?;
        Ok(Connection::new(stream, &self.inner.config).with_peer(origin.authority()))
    }

    /// How many idle connections the pool holds for `origin`.
    pub fn idle_count(&self, origin: &Origin) -> usize {
        self.lock_idle().get(origin).map_or(0, Vec::len)
    }

    fn tls_connector(&self) -> Result<TlsConnector, ClientError> {
        if let Some(config) = self.inner.tls.get() {
            return Ok(TlsConnector::from(config.clone()));
        }
        let config = self.inner.config.tls.build()?;
        // Another task may have won the race; both configurations are the same.
        Ok(TlsConnector::from(
            self.inner.tls.get_or_init(|| config).clone(),
        ))
    }

    async fn checkout(&self, origin: &Origin) -> Option<Connection<Stream>> {
        loop {
            // The lock is released before the await below.
            let idle = self.lock_idle().get_mut(origin)?.pop()?;
            let mut connection = idle.connection;
            if idle.since.elapsed() < self.inner.config.idle_timeout
                && connection.check_idle().await
            {
                return Some(connection);
            }
        }
    }

    fn checkin(&self, origin: &Origin, connection: Connection<Stream>) {
        if !connection.is_reusable() || self.inner.config.max_idle_per_host == 0 {
            return;
        }
        let mut idle = self.lock_idle();
        let list = idle.entry(origin.clone()).or_default();
        if list.len() < self.inner.config.max_idle_per_host {
            list.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Vec<Idle>>> {
        // The map stays consistent even if a holder panicked: every operation on it is
        // a single push or pop.
        self.inner
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

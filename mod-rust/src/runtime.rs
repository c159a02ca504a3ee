//! [`Runtime`]: the builder a handler program fills in and hands to [`serve`](crate::serve).

use std::collections::BTreeMap;
use std::path::PathBuf;

use runtime_protocol::Encoding;

use crate::handler::{boxed, BoxedHandler, Handler};

/// Default number of connections, each carrying one request at a time.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// A runtime process: its name, its pool, its handlers and how it connects.
///
/// ```no_run
/// use mod_rust::{Context, HandlerError, Json, Runtime};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct BookInput { room_id: String, guest: String }
///
/// #[derive(Serialize)]
/// struct Booking { booking_id: String }
///
/// async fn book(_ctx: Context, input: BookInput) -> Result<Json<Booking>, HandlerError> {
///     if input.room_id == "13" {
///         return Err(HandlerError::declared("room_unavailable", "room 13 is never free"));
///     }
///     Ok(Json(Booking { booking_id: format!("{}-{}", input.room_id, input.guest) }))
/// }
///
/// # async fn run() -> Result<(), mod_rust::Error> {
/// let app = Runtime::new("booking")
///     .pool("default")
///     .handler("BOOK", "/rooms/{room_id}", book);
/// mod_rust::serve(app).await
/// # }
/// ```
///
/// Settings given here are defaults: the command line (`--gateway-socket`) and the
/// environment (`AGTP_*`, see the crate docs) override them, since whoever starts the process
/// knows where the daemon is.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) module: String,
    pub(crate) version: String,
    pub(crate) pool: String,
    pub(crate) gateway_socket: Option<PathBuf>,
    pub(crate) connections: usize,
    pub(crate) encoding: Encoding,
    pub(crate) manifest_cache: CacheSetting,
    pub(crate) reconnect_on_daemon_shutdown: bool,
    /// Handlers keyed by `(METHOD, declared path)`.
    pub(crate) handlers: BTreeMap<(String, String), BoxedHandler>,
    /// `"<METHOD> <path>"` of handlers registered twice; reported by `serve`.
    pub(crate) duplicates: Vec<String>,
}

/// Where the manifest cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CacheSetting {
    /// `$XDG_CACHE_HOME/mod-rust/…`, else `$HOME/.cache/mod-rust/…`, else memory only.
    Default,
    /// This file.
    Path(PathBuf),
    /// Memory only.
    Disabled,
}

impl Runtime {
    /// A runtime named `module` (sent as `hello.module.id`, and part of the default cache
    /// file name), in the `default` pool, with no handlers yet.
    pub fn new(module: impl Into<String>) -> Runtime {
        Runtime {
            module: module.into(),
            version: "unspecified".into(),
            pool: runtime_protocol::DEFAULT_POOL.into(),
            gateway_socket: None,
            connections: DEFAULT_CONNECTIONS,
            encoding: Encoding::MessagePack,
            manifest_cache: CacheSetting::Default,
            reconnect_on_daemon_shutdown: false,
            handlers: BTreeMap::new(),
            duplicates: Vec::new(),
        }
    }

    /// The program's version, sent in `hello.module.version` for the daemon's logs; for
    /// example `env!("CARGO_PKG_VERSION")`.
    pub fn version(mut self, version: impl Into<String>) -> Runtime {
        self.version = version.into();
        self
    }

    /// The pool the connections join (`hello.module.pool`). `AGTP_POOL` overrides it.
    pub fn pool(mut self, pool: impl Into<String>) -> Runtime {
        self.pool = pool.into();
        self
    }

    /// Serves the endpoint declared as `method path` (the path as written in the endpoint's
    /// declaration, parameters in braces: `/rooms/{room_id}`) with `handler`.
    ///
    /// Registration binds by this key: the daemon's `register` may list fewer endpoints than
    /// the program handles, but every endpoint it lists needs a handler here, or the runtime
    /// refuses the set and [`serve`](crate::serve) fails. Registering one key twice makes
    /// `serve` fail too.
    pub fn handler<H, M>(mut self, method: &str, path: &str, handler: H) -> Runtime
    where
        H: Handler<M>,
    {
        let key = (method.to_ascii_uppercase(), path.to_owned());
        let name = format!("{} {}", key.0, key.1);
        if self.handlers.insert(key, boxed(handler)).is_some() {
            self.duplicates.push(name);
        }
        self
    }

    /// The daemon's socket, used when neither `--gateway-socket` nor `AGTP_GATEWAY_SOCKET`
    /// names one.
    pub fn gateway_socket(mut self, path: impl Into<PathBuf>) -> Runtime {
        self.gateway_socket = Some(path.into());
        self
    }

    /// How many connections to open (default 4); each carries one request at a time, so this
    /// is the runtime's concurrency. `AGTP_CONNECTIONS` overrides it.
    pub fn connections(mut self, n: usize) -> Runtime {
        self.connections = n;
        self
    }

    /// The payload encoding of every connection: MessagePack unless set.
    pub fn encoding(mut self, encoding: Encoding) -> Runtime {
        self.encoding = encoding;
        self
    }

    /// Persists the manifest cache in this file. `AGTP_MANIFEST_CACHE` overrides it.
    pub fn manifest_cache(mut self, path: impl Into<PathBuf>) -> Runtime {
        self.manifest_cache = CacheSetting::Path(path.into());
        self
    }

    /// Keeps the manifest cache in memory only: reconnects still resume, restarts do not.
    pub fn no_manifest_cache(mut self) -> Runtime {
        self.manifest_cache = CacheSetting::Disabled;
        self
    }

    /// What to do when the daemon says `goodbye` with reason `shutdown`: by default `serve`
    /// returns `Ok(())` (the daemon is going away, and whoever restarts it restarts its
    /// runtimes); with `true` the runtime keeps reconnecting until it comes back.
    pub fn reconnect_on_daemon_shutdown(mut self, reconnect: bool) -> Runtime {
        self.reconnect_on_daemon_shutdown = reconnect;
        self
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let handlers: Vec<String> = self
            .handlers
            .keys()
            .map(|(method, path)| format!("{method} {path}"))
            .collect();
        f.debug_struct("Runtime")
            .field("module", &self.module)
            .field("version", &self.version)
            .field("pool", &self.pool)
            .field("gateway_socket", &self.gateway_socket)
            .field("connections", &self.connections)
            .field("encoding", &self.encoding)
            .field("manifest_cache", &self.manifest_cache)
            .field("handlers", &handlers)
            .finish_non_exhaustive()
    }
}

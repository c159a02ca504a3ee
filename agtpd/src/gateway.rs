//! The runtime gateway: where runtime processes (any language) connect over a
//! length-prefixed Unix socket (or loopback TCP) to serve `registered_function` endpoints.
//! `runtime-protocol/PROTOCOL.md` is the contract; this module is the daemon's side of it.
//!
//! Layout:
//! - `listener.rs`: binding the socket (stale files, mode, group) and the accept loops;
//! - `handshake.rs`: hello → welcome → register / register_resume → register_ack;
//! - `connection.rs`: one task per registered connection, owning its socket, and
//!   `exchange.rs`: one request in flight on it;
//! - `pool.rs`: idle connections, the bounded queue of jobs (a call waiting for a
//!   connection, and how it ended), counters ([`PoolSnapshot`]);
//! - `processes.rs`: connections by runtime pid (`SO_PEERCRED`), requests per process,
//!   and retiring a process (goodbye once idle) for the supervisor;
//! - `dispatch.rs`: one call from the gates to a connection and back, with retry rules;
//! - `translate.rs`: AGTP request → request frame, and runtime answer → AGTP response;
//! - `config.rs`: `[gateway]`.
//!
//! Each pool's `register` frame comes from `agtp_site::register`; the key behind
//! `sign_request` is the daemon's (`crate::signing`).
//!
//! Pools come from the endpoint table (`[endpoint.handler] runtime`, default `default`);
//! a runtime names its pool in `hello.module.pool`. A reload that changes a pool's
//! endpoint set sends its connections `goodbye` (`manifest_reload`) once they are idle.
//! On shutdown, after the AGTP side has drained, every connection gets `goodbye`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use runtime_protocol::DaemonInfo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use agtp_site::register::pool_registrations;
use agtp_site::site::Site;
use runtime_protocol::Register;

use self::config::GatewayConfig;
use crate::signing::Signer;

pub mod config;
mod connection;
mod dispatch;
mod exchange;
mod handshake;
mod listener;
mod pool;
mod processes;
mod translate;

pub(crate) use dispatch::{Call, CallTiming, GatewayError};
pub use listener::{BindError, GatewayListener};
use pool::Pool;
pub use pool::PoolSnapshot;
pub(crate) use pool::PoolTimings;
pub use processes::ProcessSnapshot;
pub(crate) use processes::Processes;
pub(crate) use translate::{attribution_extra, deadline, envelope, refusal, reply, trust};

/// How long connections may take to finish after the goodbye on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The gateway: its pools, the settings new connections use, and its tasks.
pub struct Gateway {
    state: RwLock<State>,
    tasks: TaskTracker,
    /// Stop accepting; idle connections say goodbye, busy ones after their request.
    stop: CancellationToken,
    /// Drop every connection now.
    cut: CancellationToken,
    next_connection: AtomicU64,
    listening: AtomicBool,
    /// Connections by runtime process.
    pub(crate) processes: Processes,
}

struct State {
    settings: Arc<RuntimeSettings>,
    pools: HashMap<String, Arc<Pool>>,
}

/// What a new connection, or a sign request, reads from the configuration.
pub(crate) struct RuntimeSettings {
    pub(crate) config: GatewayConfig,
    pub(crate) daemon: DaemonInfo,
    pub(crate) signer: Option<Arc<Signer>>,
}

/// A reload's gateway part, prepared (files read, hashes computed) before anything changes.
pub(crate) struct Prepared {
    settings: Arc<RuntimeSettings>,
    manifests: std::collections::BTreeMap<String, Register>,
}

impl Gateway {
    /// A gateway with no pool yet; [`Gateway::apply`] gives it its configuration.
    pub(crate) fn new() -> Gateway {
        let settings = Arc::new(RuntimeSettings {
            config: GatewayConfig::default(),
            daemon: daemon_info("agtpd", ""),
            signer: None,
        });
        Gateway {
            state: RwLock::new(State {
                settings,
                pools: HashMap::new(),
            }),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            cut: CancellationToken::new(),
            next_connection: AtomicU64::new(1),
            listening: AtomicBool::new(false),
            processes: Processes::new(),
        }
    }

    /// Everything a reload changes, computed without changing anything: `[gateway]`,
    /// the `Server-ID` and signing key the welcome and `sign_request` use, and each
    /// pool's registration from `site`.
    pub(crate) fn prepare(
        config: &GatewayConfig,
        server_id: &str,
        signer: Option<Arc<Signer>>,
        site: &Site,
    ) -> Prepared {
        Prepared {
            settings: Arc::new(RuntimeSettings {
                config: config.clone(),
                daemon: daemon_info(server_id, site.catalog.version()),
                signer,
            }),
            manifests: pool_registrations(&site.endpoints),
        }
    }

    /// Applies a prepared reload: new connections use the new settings; pools whose
    /// endpoint set changed tell their connections goodbye once idle.
    pub(crate) fn apply(&self, prepared: Prepared) {
        let Prepared {
            settings,
            mut manifests,
        } = prepared;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.settings = settings;
        for (name, pool) in &state.pools {
            let register = manifests.remove(name).unwrap_or_else(empty);
            if pool.set_manifest(register) {
                tracing::info!(
                    pool = name,
                    "pool endpoints changed; its runtimes re-register"
                );
            }
        }
        for (name, register) in manifests {
            let pool = Arc::new(Pool::new(&name, register));
            state.pools.insert(name, pool);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn settings(&self) -> Arc<RuntimeSettings> {
        self.read().settings.clone()
    }

    /// The pool named `name`, created empty when no endpoint names it.
    fn pool(&self, name: &str) -> Arc<Pool> {
        if let Some(pool) = self.read().pools.get(name) {
            return pool.clone();
        }
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state
            .pools
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Pool::new(name, empty())))
            .clone()
    }

    /// Whether the gateway accepts runtimes on at least one listener.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Relaxed)
    }

    /// Per-pool counters, sorted by pool name.
    pub fn snapshot(&self) -> Vec<PoolSnapshot> {
        let mut pools: Vec<PoolSnapshot> = self
            .read()
            .pools
            .values()
            .map(|p| {
                let mut snapshot = p.snapshot();
                snapshot.processes = self.processes.snapshot(&snapshot.pool);
                snapshot
            })
            .collect();
        pools.sort_by(|a, b| a.pool.cmp(&b.pool));
        pools
    }

    /// Each pool's time histograms (handles onto the live ones), sorted by pool name.
    pub(crate) fn timings(&self) -> Vec<(String, PoolTimings)> {
        let mut pools: Vec<(String, PoolTimings)> = self
            .read()
            .pools
            .values()
            .map(|p| (p.name().to_owned(), p.timings.clone()))
            .collect();
        pools.sort_by(|a, b| a.0.cmp(&b.0));
        pools
    }

    /// Accepts runtimes on `listeners` until [`Gateway::shutdown`].
    pub(crate) fn serve(self: &Arc<Self>, listeners: Vec<GatewayListener>) {
        self.listening.store(!listeners.is_empty(), Relaxed);
        for listener in listeners {
            self.spawn(listener.run(self.clone()));
        }
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let cut = self.cut.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = cut.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Stops accepting, says goodbye to every connection (busy ones after their request)
    /// and waits a moment for them to close before cutting the rest.
    pub(crate) async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.tasks.len(),
                "runtime connections still busy; closing them"
            );
            self.cut.cancel();
            self.tasks.wait().await;
        }
    }
}

/// The welcome's daemon block.
fn daemon_info(server_id: &str, catalog_version: &str) -> DaemonInfo {
    DaemonInfo {
        version: concat!("agtpd ", env!("CARGO_PKG_VERSION")).to_owned(),
        server_id: server_id.to_owned(),
        catalog_version: Some(catalog_version.to_owned()),
    }
}

/// The registration of a pool no endpoint names.
fn empty() -> Register {
    Register::new(Vec::new(), serde_json::Map::new())
}

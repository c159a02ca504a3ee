//! The accept loops, the connection limit, reload and drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agtp_core::encode::encode_response;
use agtp_core::module::Module;
use bytes::BytesMut;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::Config;
use crate::connection::{linger, retry_later, Connection, Shutdown};
use crate::error::ConfigError;
use crate::gateway::{Gateway, GatewayListener, Prepared};
use crate::metrics::{Metrics, Scrape};
use crate::pipeline::Pipeline;
use crate::proxy_protocol::{self, Trusted};
use crate::settings::Settings;
use crate::signing::Signer;
use crate::supervisor::Supervisor;
use crate::telemetry;

/// A configured daemon, not yet serving. Building one binds nothing.
pub struct Daemon {
    /// What new connections and requests read: swapped whole by a reload.
    settings: watch::Sender<Arc<Settings>>,
    /// The configuration in force, which the next reload is compared with.
    config: Mutex<Config>,
    /// One permit per open AGTP connection, `max_connections` in all.
    connections: Arc<Semaphore>,
    max_connections: usize,
    /// The runtime gateway and its pools.
    gateway: Arc<Gateway>,
    /// The operational modules, in load order.
    pipeline: Arc<Pipeline>,
    /// The `[[runtime]]` processes agtpd runs.
    supervisor: Arc<Supervisor>,
    /// The request, connection and pool metrics, and the registry `/metrics` renders.
    metrics: Arc<Metrics>,
    registry: Registry,
    /// Set once the shutdown signal came: `/readyz` answers 503 from then on.
    draining: AtomicBool,
    /// For `/status`'s uptime.
    started: std::time::Instant,
}

impl Daemon {
    /// Prepares a daemon for `config`, which should already be validated: loads the
    /// site, then builds the modules `[modules] load` selects (which may open their
    /// files). Binds nothing.
    pub fn new(config: &Config) -> Result<Daemon, ConfigError> {
        Daemon::assemble(config, None)
    }

    /// Like [`Daemon::new`], with exactly `modules` as the pipeline (in load order)
    /// instead of the ones `config` selects. For tests that insert their own modules.
    #[doc(hidden)]
    pub fn with_modules(
        config: &Config,
        modules: Vec<Arc<dyn Module>>,
    ) -> Result<Daemon, ConfigError> {
        Daemon::assemble(config, Some(modules))
    }

    /// What `--check-config` checks beyond [`Config::validate`]: the site and the
    /// gateway pools load. Builds no module, so opens no module file.
    pub fn check(config: &Config) -> Result<(), ConfigError> {
        let gateway = Arc::new(Gateway::new());
        let settings = Settings::new(config, gateway, Arc::default(), Arc::default())?;
        prepare_gateway(config, &settings).map(drop)
    }

    fn assemble(
        config: &Config,
        modules: Option<Vec<Arc<dyn Module>>>,
    ) -> Result<Daemon, ConfigError> {
        let gateway = Arc::new(Gateway::new());
        let metrics = Arc::new(Metrics::default());
        let mut settings = Settings::new(config, gateway.clone(), Arc::default(), metrics.clone())?;
        let prepared = prepare_gateway(config, &settings)?;
        // Last: modules may open files, so only once everything else loaded.
        let modules = match modules {
            Some(modules) => modules,
            None => config.modules.build(&config.server_id, &config.signing)?,
        };
        let pipeline = Arc::new(Pipeline::new(modules));
        settings.pipeline = pipeline.clone();
        gateway.apply(prepared);
        let (settings, _) = watch::channel(Arc::new(settings));
        let connections = Arc::new(Semaphore::new(config.max_connections));
        let supervisor = Arc::new(Supervisor::new(&config.runtime));
        let mut registry = Registry::with_prefix("agtpd");
        metrics.register(&mut registry);
        registry.register_collector(Box::new(Scrape {
            gateway: gateway.clone(),
            supervisor: supervisor.clone(),
            pipeline: pipeline.clone(),
            connections: connections.clone(),
            max_connections: config.max_connections,
        }));
        Ok(Daemon {
            settings,
            config: Mutex::new(config.clone()),
            connections,
            max_connections: config.max_connections,
            gateway,
            pipeline,
            supervisor,
            metrics,
            registry,
            draining: AtomicBool::new(false),
            started: std::time::Instant::now(),
        })
    }

    /// Every metric as OpenMetrics text, for `/metrics`.
    pub fn encode_metrics(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// Counts a SIGHUP reload, applied or refused.
    pub(crate) fn count_reload(&self, applied: bool) {
        self.metrics.reloaded(applied);
    }

    /// Whether the daemon is draining (SIGTERM came; requests in flight are finishing).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Relaxed)
    }

    /// How long ago the daemon was built.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// The effective configuration: the loaded one with the last accepted reload applied.
    pub fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The loaded modules' names, in pipeline order.
    pub fn module_names(&self) -> Vec<&'static str> {
        self.pipeline.names()
    }

    /// Tells every module to reopen its files (SIGHUP, after logrotate renamed them).
    pub fn reopen_modules(&self) {
        self.pipeline.reopen();
    }

    /// The runtime processes agtpd runs (`[[runtime]]`): restarts, readiness, counters.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// The runtime gateway: its pools and their counters.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Whether any endpoint is served by a runtime, so the gateway has to listen. A daemon
    /// serving only its built-ins opens no gateway socket.
    pub fn serves_runtimes(&self) -> bool {
        self.settings.borrow().site.endpoints.needs_runtimes()
    }

    /// Applies `new` except its restart-only keys, which keep their running values (each
    /// section names its own: [`Config::pin`]), and logs what changed: each restart-only
    /// key at WARN, each reloaded one at INFO. New connections use the new settings; open
    /// ones keep theirs. Supervised pools whose `[[runtime]]` changed are replaced by a
    /// rolling restart. A configuration that does not load changes nothing.
    pub fn reload(&self, new: &Config) -> Result<(), ConfigError> {
        let mut current = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let mut effective = new.clone();
        let pinned = effective.pin(&current);
        let settings = Settings::new(
            &effective,
            self.gateway.clone(),
            self.pipeline.clone(),
            self.metrics.clone(),
        )?;
        let gateway = prepare_gateway(&effective, &settings)?;
        for key in pinned.changed() {
            tracing::warn!(
                key,
                "changed in the configuration; takes effect after a restart"
            );
        }
        for key in effective.changed_keys(&current) {
            tracing::info!(key, "reloaded");
        }
        if !self.gateway.is_listening() && !settings.site.endpoints.is_empty() {
            tracing::warn!(
                "the gateway socket was not opened at start (no endpoints then); \
                 restart so runtimes can serve the new endpoints"
            );
        }
        self.settings.send_replace(Arc::new(settings));
        self.gateway.apply(gateway);
        self.supervisor.reload(&effective.runtime);
        *current = effective;
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// Serves every listener, AGTP and gateway, until `shutdown` completes, then drains:
    /// stops accepting, closes idle connections, lets requests in flight finish within
    /// `timeouts.drain`, and cuts whatever is left; then says goodbye to the runtimes and,
    /// last, stops the supervised ones. Supervised runtimes start once the gateway listens.
    pub async fn serve(
        &self,
        listeners: Vec<TcpListener>,
        gateway: Vec<GatewayListener>,
        shutdown: impl Future<Output = ()>,
    ) {
        self.gateway.serve(gateway);
        self.start_runtimes();
        let stages = Shutdown::default();
        let tracker = TaskTracker::new();
        // `listeners` come in `listen` order, which is how `[proxy_protocol]` names them.
        let proxied: Vec<Option<Trusted>> = {
            let config = self.config.lock().unwrap_or_else(PoisonError::into_inner);
            let policy = &config.proxy_protocol;
            config
                .listen
                .iter()
                .map(|a| policy.for_listener(*a))
                .collect()
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let accept = AcceptLoop {
                listener,
                proxied: proxied.get(i).cloned().flatten(),
                settings: self.settings.subscribe(),
                connections: self.connections.clone(),
                lingering: Arc::new(Semaphore::new(REFUSED_LINGERING)),
                shutdown: stages.clone(),
                tracker: tracker.clone(),
            };
            tracker.spawn(accept.run());
        }
        shutdown.await;
        self.draining.store(true, Relaxed);
        let delay = self.settings.borrow().timeouts.drain_delay;
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "draining after a delay: serving on while /readyz answers 503"
            );
            tokio::time::sleep(delay).await;
        }
        let deadline = self.settings.borrow().timeouts.drain;
        tracing::info!(
            connections = self.max_connections - self.connections.available_permits(),
            ?deadline,
            "draining: no new connections, finishing requests in flight"
        );
        stages.drain.cancel();
        tracker.close();
        if tokio::time::timeout(deadline, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = tracker.len(),
                "drain deadline passed; answering what is left 503 and closing"
            );
            stages.cut.cancel();
            tracker.wait().await;
        }
        // Order matters: runtimes are told goodbye only once no AGTP request needs them.
        self.gateway.shutdown().await;
        self.supervisor.stop().await;
        tracing::info!("stopped");
    }

    fn start_runtimes(&self) {
        if self.supervisor.is_empty() {
            return;
        }
        if !self.gateway.is_listening() {
            tracing::error!("the gateway does not listen; the [[runtime]] pools are not started");
            return;
        }
        let socket = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .gateway_socket
            .clone();
        let pools: Vec<String> = self
            .gateway
            .snapshot()
            .into_iter()
            .filter(|p| p.n_endpoints > 0)
            .map(|p| p.pool)
            .collect();
        self.supervisor.start(&self.gateway, socket, &pools);
    }
}

struct AcceptLoop {
    listener: TcpListener,
    settings: watch::Receiver<Arc<Settings>>,
    connections: Arc<Semaphore>,
    /// Refused connections still being closed gracefully (see [`refuse`]).
    lingering: Arc<Semaphore>,
    shutdown: Shutdown,
    tracker: TaskTracker,
    /// Whose PROXY header this listener believes; `None`: it takes none.
    proxied: Option<Trusted>,
}

impl AcceptLoop {
    async fn run(self) {
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.drain.cancelled() => return,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let settings = self.settings.borrow().clone();
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                settings.metrics.refused();
                refuse(&stream, peer, &settings);
                // Closing with the request unread would reset the connection, and the
                // reset can destroy the 503 before the client reads it: shut the write
                // side and discard input for a moment, for a bounded number at a time.
                if let Ok(lingering) = self.lingering.clone().try_acquire_owned() {
                    self.tracker.spawn(async move {
                        let mut stream = stream;
                        linger(&mut stream, REFUSED_LINGER).await;
                        drop(lingering);
                    });
                }
                continue;
            };
            settings.metrics.accepted();
            let _ = stream.set_nodelay(true);
            let shutdown = self.shutdown.clone();
            let proxied = self.proxied.clone().filter(|t| t.trusts(peer));
            self.tracker.spawn(async move {
                let cut = shutdown.cut.clone();
                let serve = serve_stream(stream, peer, proxied, settings, shutdown)
                    .instrument(telemetry::connection_span(peer));
                tokio::pin!(serve);
                tokio::select! {
                    () = &mut serve => {}
                    // The connection answers what it was doing with a 503; a peer that
                    // does not read it within the grace is closed regardless.
                    () = cut.cancelled() => {
                        let _ = tokio::time::timeout(CUT_GRACE, serve).await;
                    }
                }
                drop(permit);
            });
        }
    }
}

/// Serves one accepted connection: its PROXY header when its peer is a trusted balancer,
/// then TLS when configured, then AGTP.
async fn serve_stream(
    mut stream: TcpStream,
    peer: SocketAddr,
    proxied: Option<Trusted>,
    settings: Arc<Settings>,
    shutdown: Shutdown,
) {
    let peer = match proxied {
        None => peer,
        Some(_) => {
            match proxy_protocol::read_header(&mut stream, peer, settings.timeouts.header).await {
                Ok(client) => client,
                Err(why) => {
                    settings.metrics.proxy_header_refused();
                    tracing::warn!(%peer, error = why, "closing a connection without a valid PROXY header");
                    return;
                }
            }
        }
    };
    let Some(acceptor) = settings.tls.clone() else {
        return Connection::new(stream, peer, settings, shutdown)
            .run()
            .await;
    };
    let handshake = acceptor
        .accept(stream)
        .instrument(telemetry::span!("tls_handshake"));
    match tokio::time::timeout(settings.timeouts.tls_handshake, handshake).await {
        Ok(Ok(tls)) => {
            // Read where the handshake left it, before the stream moves.
            let certificate = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
            let certificate = certificate.map(|der| crate::mtls::read(der).map(Arc::new));
            Connection::new(tls, peer, settings, shutdown)
                .with_certificate(certificate)
                .run()
                .await
        }
        Ok(Err(error)) => {
            settings.metrics.tls_handshake_failed();
            tracing::debug!(%peer, %error, "tls handshake failed");
        }
        Err(_) => {
            settings.metrics.tls_handshake_failed();
            tracing::debug!(%peer, "tls handshake timed out");
        }
    }
}

/// Over the connection limit: a plaintext peer gets a 503 written without waiting (a
/// fresh socket's send buffer is empty); a TLS peer is closed, since answering would
/// mean a handshake the daemon has no capacity for.
fn refuse(stream: &TcpStream, peer: SocketAddr, settings: &Settings) {
    tracing::debug!(%peer, "connection limit reached; refusing");
    if settings.tls.is_some() {
        return;
    }
    let mut response = retry_later(
        "too-many-connections",
        "the server is at its connection limit; retry shortly",
    );
    let response_id = crate::settings::response_id();
    settings.finalize(&mut response, (&response_id, None), true);
    let mut out = BytesMut::new();
    encode_response(&response, &mut out);
    let _ = stream.try_write(&out);
}

/// After the drain deadline, how long a connection has to write its 503 and close.
const CUT_GRACE: Duration = Duration::from_millis(500);
/// Refused connections that may linger at once; past it they are closed at once.
const REFUSED_LINGERING: usize = 256;
/// How long a refused connection's input is discarded before it is closed.
const REFUSED_LINGER: Duration = Duration::from_millis(500);

/// The gateway's part of `config` and of the site `settings` loaded.
fn prepare_gateway(config: &Config, settings: &Settings) -> Result<Prepared, ConfigError> {
    let signer = Signer::load(&config.signing)?.map(Arc::new);
    Ok(Gateway::prepare(
        &config.gateway,
        &config.server_id,
        signer,
        &settings.site,
    ))
}

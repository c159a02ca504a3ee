//! From a loaded configuration to a running daemon: bind, wire signals, serve.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::admin::{self, Routes};
use crate::cli::Overrides;
use crate::config::{self, Config, Source};
use crate::exit::ExitStatus;
use crate::gateway::{BindError, GatewayListener};
use crate::server::Daemon;
use crate::supervisor::notify;

/// Binds `config.listen` and, when endpoints need runtimes, the gateway socket for `daemon`
/// (built from `config`), serves until SIGTERM or SIGINT, then drains. SIGHUP reloads the
/// configuration from `source`, where `config` came from; a refused reload keeps the
/// running one.
pub async fn launch(source: Source<Overrides>, config: Config, daemon: Daemon) -> ExitStatus {
    let daemon = Arc::new(daemon);
    if let Ok(agtpd) = std::env::current_exe() {
        daemon.supervisor().use_shim(agtpd);
    }
    let mut listeners = Vec::new();
    for addr in &config.listen {
        match TcpListener::bind(addr).await {
            Ok(listener) => listeners.push(listener),
            Err(error) => {
                tracing::error!(%addr, %error, "cannot listen");
                return ExitStatus::Bind;
            }
        }
    }
    let Ok(admin) = bind_optional(config.admin.listen, "admin").await else {
        return ExitStatus::Bind;
    };
    let Ok(metrics) = bind_optional(config.admin.metrics_listen, "metrics").await else {
        return ExitStatus::Bind;
    };
    let gateway = match bind_gateway(&config, &daemon).await {
        Ok(gateway) => gateway,
        Err(error) => {
            tracing::error!(%error, "cannot open the gateway");
            return ExitStatus::Bind;
        }
    };
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return ExitStatus::Software;
    };
    let addresses: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    let gateway_at: Vec<String> = gateway.iter().map(GatewayListener::describe).collect();
    let local = |l: &Option<TcpListener>| {
        l.as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    let (admin_at, metrics_at) = (local(&admin), local(&metrics));
    tracing::info!(
        listen = addresses.join(", "),
        gateway = gateway_at.join(", "),
        admin = admin_at,
        metrics = metrics_at,
        tls = config.tls.cert_file.is_some(),
        server_id = config.server_id,
        modules = daemon.module_names().join(", "),
        "agtpd ready"
    );
    let watcher = daemon.clone();
    tokio::spawn(async move {
        let supervisor = watcher.supervisor();
        if !supervisor.is_empty() {
            supervisor.ready().await;
            tracing::info!(processes = supervisor.snapshot().len(), "runtimes ready");
        }
        notify("READY=1");
    });
    let reloader = daemon.clone();
    let on_hup = tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reopening module files, reloading the configuration");
            reloader.reopen_modules();
            match config::load(&source).and_then(|new| reloader.reload(&new)) {
                Ok(()) => reloader.count_reload(true),
                Err(error) => {
                    reloader.count_reload(false);
                    tracing::error!(%error, "reload refused; the running configuration stays")
                }
            }
        }
    });
    let shutdown = async {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        notify("STOPPING=1");
    };
    // Their own tasks, outside the connection limit; they answer through the drain.
    let serve_admin =
        |listener, routes| tokio::spawn(admin::serve(daemon.clone(), listener, routes));
    let admin_tasks: Vec<_> = [(admin, Routes::All), (metrics, Routes::MetricsOnly)]
        .into_iter()
        .filter_map(|(listener, routes)| listener.map(|l| serve_admin(l, routes)))
        .collect();
    daemon.serve(listeners, gateway, shutdown).await;
    for task in admin_tasks {
        task.abort();
        let _ = task.await;
    }
    on_hup.abort();
    let _ = on_hup.await;
    // The last reference: dropping the daemon drops the modules, and the audit module
    // appends what is queued, writes its shutdown checkpoint and syncs before this returns.
    drop(daemon);
    ExitStatus::Clean
}

/// A listener on `addr` when one is configured; `Err` (logged) when it cannot be bound.
async fn bind_optional(addr: Option<SocketAddr>, what: &str) -> Result<Option<TcpListener>, ()> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    TcpListener::bind(addr).await.map(Some).map_err(|error| {
        tracing::error!(%addr, %error, "cannot listen for {what} requests");
    })
}

/// The gateway listeners `config` asks for, or none when no endpoint needs a runtime.
async fn bind_gateway(config: &Config, daemon: &Daemon) -> Result<Vec<GatewayListener>, BindError> {
    if !daemon.serves_runtimes() && daemon.supervisor().is_empty() {
        tracing::info!("no endpoint needs a runtime; the gateway socket is not opened");
        return Ok(Vec::new());
    }
    let group = config.gateway.socket_group.as_deref();
    let mut listeners = vec![GatewayListener::bind_unix(&config.gateway_socket, group)?];
    if let Some(addr) = config.gateway.tcp_listen {
        listeners.push(GatewayListener::bind_tcp(addr).await?);
    }
    Ok(listeners)
}

/// [`launch`] on a new multi-threaded tokio runtime, for the binary's `main`.
pub fn serve_blocking(source: Source<Overrides>, config: Config, daemon: Daemon) -> ExitStatus {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(launch(source, config, daemon)),
        Err(error) => {
            eprintln!("agtpd: cannot start the async runtime: {error}");
            ExitStatus::Software
        }
    }
}

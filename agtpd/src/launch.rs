//! From a loaded configuration to a running daemon: bind, wire signals, serve.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::Cli;
use crate::config::{self, Config};
use crate::Daemon;

/// How the process ends, as a sysexits-style code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Served and stopped cleanly (0).
    Clean = 0,
    /// Bad flags (64, EX_USAGE).
    Usage = 64,
    /// Internal failure such as a signal handler that could not be installed (70).
    Software = 70,
    /// A listener could not be bound (71, EX_OSERR).
    Bind = 71,
    /// The configuration was refused (78, EX_CONFIG).
    Config = 78,
}

/// Binds `config.listen` for `daemon` (built from `config`), serves until SIGTERM or SIGINT, then drains. SIGHUP reloads
/// the configuration from the same sources; a refused reload keeps the running one.
pub async fn launch(cli: Cli, config: Config, daemon: Daemon) -> ExitStatus {
    let daemon = Arc::new(daemon);
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
    tracing::info!(
        listen = addresses.join(", "),
        tls = config.tls.cert_file.is_some(),
        server_id = config.server_id,
        "agtpd ready"
    );
    let reloader = daemon.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            match config::load(&cli).and_then(|new| reloader.reload(&new)) {
                Ok(()) => {}
                Err(error) => {
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
    };
    daemon.serve(listeners, shutdown).await;
    ExitStatus::Clean
}

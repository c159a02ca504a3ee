//! [`serve`] and [`serve_with_shutdown`]: open the runtime's connections, keep each one
//! connected (reconnecting with backoff), and stop them all in good order.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use runtime_protocol::{GoodbyeReason, ModuleInfo};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::cache::ManifestCache;
use crate::ending::{Ended, Failure};
use crate::error::Error;
use crate::runtime::Runtime;
use crate::session;
use crate::settings::Settings;
use crate::shared::Shared;

impl Runtime {
    /// Same as [`serve(self)`](crate::serve).
    pub async fn serve(self) -> Result<(), Error> {
        serve(self).await
    }

    /// Same as [`serve_with_shutdown(self, shutdown)`](crate::serve_with_shutdown).
    pub async fn serve_with_shutdown(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        serve_with_shutdown(self, shutdown).await
    }
}

/// Serves `app` until SIGTERM or SIGINT, then stops gracefully: no new requests, in-flight
/// ones finished, `goodbye` sent, `Ok(())` returned.
///
/// Returns an error when the settings are unusable, the daemon refuses every protocol
/// version, or the daemon pushes an endpoint `app` has no handler for. Connection failures
/// are not errors: they are logged and retried with backoff.
pub async fn serve(app: Runtime) -> Result<(), Error> {
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    };
    serve_with_shutdown(app, shutdown).await
}

/// Like [`serve`], but stops gracefully when `shutdown` completes instead of on a signal.
///
/// ```no_run
/// # async fn run(app: mod_rust::Runtime) -> Result<(), mod_rust::Error> {
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(mod_rust::serve_with_shutdown(app, async move {
///     let _ = stopped.await;
/// }));
/// // ...
/// let _ = stop.send(());
/// server.await.expect("the runtime task panicked")
/// # }
/// ```
pub async fn serve_with_shutdown(
    app: Runtime,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let settings = Settings::from_process(&app)?;
    let handlers = app.handlers;
    let cache = ManifestCache::load(settings.cache_path.clone(), |cached| {
        session::binds(&handlers, cached)
    });
    let shared = Arc::new(Shared {
        module: ModuleInfo {
            id: app.module,
            version: app.version,
            runtime: Some(format!("rust (mod-rust {})", env!("CARGO_PKG_VERSION"))),
            pid: Some(u64::from(std::process::id())),
            pool: Some(settings.pool),
        },
        socket: settings.gateway_socket,
        encoding: app.encoding,
        handlers,
        cache,
        stop: CancellationToken::new(),
    });

    let mut slots = JoinSet::new();
    for slot in 0..settings.connections {
        let shared = shared.clone();
        slots.spawn(keep_connected(
            shared,
            slot,
            app.reconnect_on_daemon_shutdown,
        ));
    }

    let mut shutdown = pin!(shutdown);
    let mut first_error = None;
    loop {
        tokio::select! {
            // Polled only until it completes: afterwards `stop` is cancelled.
            () = &mut shutdown, if !shared.stop.is_cancelled() => {
                tracing::info!("stopping: finishing in-flight requests");
                shared.stop.cancel();
            }
            joined = slots.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(err))) => {
                    // One fatal error stops the whole runtime; the first one is reported.
                    shared.stop.cancel();
                    first_error.get_or_insert(err);
                }
                Some(Err(join)) => {
                    shared.stop.cancel();
                    if join.is_panic() {
                        std::panic::resume_unwind(join.into_panic());
                    }
                }
            },
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Keeps connection slot `slot` connected until the runtime stops or fails.
async fn keep_connected(
    shared: Arc<Shared>,
    slot: usize,
    reconnect_on_daemon_shutdown: bool,
) -> Result<(), Error> {
    let mut backoff = Backoff::new();
    while !shared.stop.is_cancelled() {
        match session::run(&shared, &mut backoff).await {
            Ok(Ended::Stopped) => return Ok(()),
            Ok(Ended::Goodbye(Some(GoodbyeReason::Shutdown))) if !reconnect_on_daemon_shutdown => {
                tracing::info!(slot, "the daemon is shutting down; stopping");
                shared.stop.cancel();
                return Ok(());
            }
            // The endpoint set changed: fetch the new one at once.
            Ok(Ended::Goodbye(Some(GoodbyeReason::ManifestReload))) => {
                tracing::debug!(slot, "the manifest changed; registering again");
            }
            // `drain`, no reason, or `shutdown` when told to outlive the daemon: wait a backoff
            // step first, so that a daemon turning connections away is not hammered.
            Ok(Ended::Goodbye(reason)) => {
                let delay = backoff.next_delay();
                tracing::info!(slot, ?reason, retry_in = ?delay, "the daemon said goodbye");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shared.stop.cancelled() => return Ok(()),
                }
            }
            Err(Failure::Fatal(err)) => return Err(err),
            Err(Failure::Lost(lost)) => {
                if shared.stop.is_cancelled() {
                    return Ok(());
                }
                let delay = backoff.next_delay();
                tracing::warn!(slot, cause = %chain(&lost), retry_in = ?delay,
                    "gateway connection lost");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shared.stop.cancelled() => return Ok(()),
                }
            }
        }
    }
    Ok(())
}

/// An error and its sources, joined with `: `, for a one-line log entry.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

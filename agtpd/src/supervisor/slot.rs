//! One process slot: start the runtime, wait until it registers, watch it, restart it with
//! backoff when it exits, replace it (new process first) after `max_requests`, on SIGHUP or
//! when it has kept no gateway connection for `disconnected_timeout`, and stop it: SIGTERM to its process group, SIGKILL after `stop_grace`.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::RuntimeConfig;
use super::output;
use super::state::{Generation, SlotState};
use crate::gateway::Gateway;

/// The first restart delay; it doubles after each quick failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A process that ran this long before exiting resets the backoff (crash-loop protection).
const SUSTAINED_UPTIME: Duration = Duration::from_secs(30);
/// How often a slot looks at the gateway for registration and `max_requests`.
const POLL: Duration = Duration::from_millis(20);

pub(super) struct Slot {
    pub(super) config: Arc<RuntimeConfig>,
    pub(super) index: usize,
    pub(super) state: Arc<SlotState>,
    pub(super) gateway: Arc<Gateway>,
    pub(super) socket: PathBuf,
    pub(super) shim: Option<PathBuf>,
    pub(super) stop: CancellationToken,
    pub(super) generation: watch::Receiver<Generation>,
    pub(super) tasks: TaskTracker,
}

/// A started runtime process.
struct Running {
    child: Child,
    pid: u32,
    started: Instant,
}

/// Why a running process is replaced.
enum Recycle {
    MaxRequests(u64),
    Reload,
    /// Alive, yet without a gateway connection for this long.
    Disconnected(Duration),
}

impl Slot {
    pub(super) async fn run(mut self) {
        // Quick failures in a row; the restart delay grows with it.
        let mut failures = 0u32;
        // Replacements in a row that failed to register; the next try waits longer.
        let mut failed_replacements = 0u32;
        let mut current = None;
        loop {
            let mut running = match current.take() {
                Some(running) => running,
                None => match self.start_until_registered(&mut failures).await {
                    Some(running) => running,
                    None => return,
                },
            };
            self.show(Some(running.pid), true);
            let pid = running.pid;
            tokio::select! {
                status = running.child.wait() => {
                    self.show(None, false);
                    reap_group(pid);
                    self.gateway.processes.forget(pid);
                    if running.started.elapsed() >= SUSTAINED_UPTIME {
                        failures = 0;
                    }
                    failures += 1;
                    self.state.n_restarts.fetch_add(1, Relaxed);
                    self.exited(pid, status, running.started, backoff(failures));
                }
                _ = self.stop.cancelled() => return terminate(running, &self.config).await,
                why = recycle_due(&self.gateway, self.generation.clone(), pid, &self.config) => {
                    match why {
                        Recycle::MaxRequests(n) => tracing::info!(pool = self.config.pool, pid, n_served = n, "max_requests reached; replacing the runtime"),
                        Recycle::Disconnected(after) => tracing::warn!(pool = self.config.pool, pid, ?after, "the runtime is alive but has no gateway connection; replacing it"),
                        Recycle::Reload => {
                            let reloaded = self.generation.borrow_and_update().iter().find(|r| r.pool == self.config.pool).cloned();
                            if let Some(config) = reloaded {
                                self.config = config;
                            }
                            tracing::info!(pool = self.config.pool, pid, "replacing the runtime (rolling restart)");
                        }
                    }
                    match self.replace(running).await {
                        Ok(new) => {
                            failed_replacements = 0;
                            current = Some(new);
                        }
                        Err(old) if self.stop.is_cancelled() => return terminate(old, &self.config).await,
                        Err(old) => {
                            failed_replacements += 1;
                            let delay = backoff(failed_replacements);
                            tracing::warn!(pool = self.config.pool, pid, retry_in = ?delay, "the replacement did not register; the running process keeps serving");
                            tokio::select! {
                                _ = sleep(delay) => {}
                                _ = self.stop.cancelled() => return terminate(old, &self.config).await,
                            }
                            current = Some(old);
                        }
                    }
                }
            }
        }
    }

    /// Starts a new process; once it registered, retires `old` (goodbye once idle, then
    /// SIGTERM). When the new one fails, `old` comes back and keeps serving.
    async fn replace(&mut self, old: Running) -> Result<Running, Running> {
        match self.start_once(0).await {
            Started::Registered(new) => {
                self.state.n_recycled.fetch_add(1, Relaxed);
                let (gateway, config) = (self.gateway.clone(), self.config.clone());
                self.tasks.spawn(retire(gateway, config, old));
                Ok(new)
            }
            Started::Failed | Started::Stopped => Err(old),
        }
    }

    /// Starts processes until one registers, waiting out the backoff between attempts.
    /// `None` when agtpd stops meanwhile.
    async fn start_until_registered(&mut self, failures: &mut u32) -> Option<Running> {
        loop {
            if *failures > 0 {
                tokio::select! {
                    _ = sleep(backoff(*failures)) => {}
                    _ = self.stop.cancelled() => return None,
                }
            }
            match self.start_once(*failures).await {
                Started::Registered(running) => return Some(running),
                Started::Stopped => return None,
                Started::Failed => {
                    *failures += 1;
                    self.state.n_restarts.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Starts one process and waits until it registers, exits, or `start_timeout` passes.
    /// `failures`: quick failures so far, for the restart delay the log announces.
    async fn start_once(&mut self, failures: u32) -> Started {
        let config = self.config.clone();
        let pool = config.pool.as_str();
        let mut child = match self.command().spawn() {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(pool, command = config.command, %error, "cannot start the runtime");
                return Started::Failed;
            }
        };
        let Some(pid) = child.id() else {
            return Started::Failed;
        };
        output::forward(&mut child, pool, pid);
        self.show(Some(pid), false);
        tracing::info!(
            pool,
            pid,
            slot = self.index,
            command = config.command,
            "runtime started"
        );
        let started = Instant::now();
        let deadline = started + config.start_timeout;
        loop {
            tokio::select! {
                status = child.wait() => {
                    self.show(None, false);
                    reap_group(pid);
                    self.exited(pid, status, started, backoff(failures + 1));
                    return Started::Failed;
                }
                _ = self.stop.cancelled() => {
                    terminate(Running { child, pid, started }, &config).await;
                    return Started::Stopped;
                }
                _ = sleep(POLL) => {
                    if self.gateway.processes.get(pid).is_some_and(|(n, _)| n > 0) {
                        tracing::info!(pool, pid, after = ?started.elapsed(), "runtime registered its process");
                        return Started::Registered(Running { child, pid, started });
                    }
                    if Instant::now() >= deadline {
                        tracing::error!(pool, pid, start_timeout = ?config.start_timeout, "runtime did not register in time; killing it");
                        let _ = signal_group(pid, Signal::SIGKILL);
                        let _ = child.wait().await;
                        self.show(None, false);
                        return Started::Failed;
                    }
                }
            }
        }
    }

    fn command(&self) -> Command {
        let config = &self.config;
        let mut command = match &self.shim {
            Some(agtpd) => {
                let mut command = Command::new(agtpd);
                command
                    .args(["__runtime-shim", "--parent"])
                    .arg(std::process::id().to_string())
                    .arg("--")
                    .arg(&config.command);
                command
            }
            None => Command::new(&config.command),
        };
        command.args(&config.args);
        if let Some(dir) = &config.working_dir {
            command.current_dir(dir);
        }
        command
            .envs(&config.env)
            .env("AGTP_GATEWAY_SOCKET", &self.socket)
            .env("AGTP_POOL", &config.pool)
            .env("AGTP_CONNECTIONS", config.connections.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal's ^C reaches agtpd only, and stopping
            // signals the runtime's children too.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    fn show(&self, pid: Option<u32>, registered: bool) {
        self.state.pid.store(pid.unwrap_or(0), Relaxed);
        self.state.registered.store(registered, Relaxed);
    }

    fn exited(
        &self,
        pid: u32,
        status: std::io::Result<ExitStatus>,
        started: Instant,
        restart_in: Duration,
    ) {
        let pool = self.config.pool.as_str();
        let uptime = started.elapsed();
        let (code, signal) = match &status {
            Ok(status) => (status.code(), status.signal().map(signal_name)),
            Err(_) => (None, None),
        };
        tracing::warn!(
            pool,
            pid,
            code,
            signal,
            ?uptime,
            ?restart_in,
            "runtime exited; restarting it after the delay"
        );
    }
}

// One `Started` lives at a time, briefly; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Started {
    Registered(Running),
    Failed,
    Stopped,
}

/// 100 ms after the first quick failure, doubling up to 30 s.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// Completes when `pid`, running with `config`, should be replaced: it served
/// `max_requests` (when set), it has had no gateway connection for `disconnected_timeout`
/// (when set), or a reload changed its pool's `[[runtime]]` settings.
async fn recycle_due(
    gateway: &Gateway,
    mut generation: watch::Receiver<Generation>,
    pid: u32,
    config: &RuntimeConfig,
) -> Recycle {
    let max_requests = config.max_requests;
    let disconnected_timeout = config.disconnected_timeout;
    let mut disconnected_since: Option<Instant> = None;
    loop {
        tokio::select! {
            Ok(()) = generation.changed() => {
                let changed = generation
                    .borrow()
                    .iter()
                    .any(|r| r.pool == config.pool && **r != *config);
                if changed {
                    return Recycle::Reload;
                }
            }
            _ = sleep(POLL * 5) => {
                let (n_connections, n_served) = gateway.processes.get(pid).unwrap_or((0, 0));
                if max_requests > 0 && n_served >= max_requests {
                    return Recycle::MaxRequests(n_served);
                }
                if n_connections > 0 || disconnected_timeout.is_zero() {
                    disconnected_since = None;
                    continue;
                }
                let since = *disconnected_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= disconnected_timeout {
                    return Recycle::Disconnected(since.elapsed());
                }
            }
        }
    }
}

/// Retires a replaced process: its connections say goodbye once idle (so no request is
/// lost), then it gets SIGTERM, and SIGKILL after `stop_grace`.
async fn retire(gateway: Arc<Gateway>, config: Arc<RuntimeConfig>, mut old: Running) {
    gateway.processes.retire(old.pid);
    let gone = async {
        while gateway.processes.get(old.pid).is_some() {
            sleep(POLL).await;
        }
    };
    tokio::select! {
        _ = gone => {}
        _ = old.child.wait() => {}
        _ = sleep(config.stop_grace) => {}
    }
    let pid = old.pid;
    terminate(old, &config).await;
    gateway.processes.forget(pid);
}

/// SIGTERM to the process group; SIGKILL after `stop_grace`.
async fn terminate(mut running: Running, config: &RuntimeConfig) {
    let (pool, pid) = (config.pool.as_str(), running.pid);
    if let Ok(Some(status)) = running.child.try_wait() {
        reap_group(pid);
        tracing::info!(
            pool,
            pid,
            code = status.code(),
            "runtime had already exited"
        );
        return;
    }
    let _ = signal_group(pid, Signal::SIGTERM);
    let status = match timeout(config.stop_grace, running.child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(pool, pid, stop_grace = ?config.stop_grace, "runtime ignored SIGTERM; killing it");
            let _ = signal_group(pid, Signal::SIGKILL);
            running.child.wait().await
        }
    };
    reap_group(pid);
    let (code, signal) = match &status {
        Ok(status) => (status.code(), status.signal().map(signal_name)),
        Err(_) => (None, None),
    };
    tracing::info!(pool, pid, code, signal, "runtime stopped");
}

/// Once the process agtpd started (`leader`) has exited, SIGKILL whatever is left of its
/// process group: the children of a launcher or the workers of a prefork master must not
/// outlive the runtime they belong to. The group cannot have been reused: it exists for
/// as long as any of its members does.
fn reap_group(leader: u32) {
    let _ = signal_group(leader, Signal::SIGKILL);
}

fn signal_group(pid: u32, signal: Signal) -> nix::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| nix::errno::Errno::ESRCH)?;
    killpg(Pid::from_raw(pid), signal)
}

fn signal_name(signal: i32) -> &'static str {
    Signal::try_from(signal).map_or("unknown", Signal::as_str)
}

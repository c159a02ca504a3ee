//! [`TestDaemon`]: agtpd for a test, in this process or as the real binary.
//!
//! In process, the daemon serves one listener on `127.0.0.1:0` and stops when
//! [`TestDaemon::stop`] completes its shutdown future; tests reach its [`Daemon`]
//! directly. As a binary (the only way to test flags, signals, logging and a supervisor
//! that starts runtimes), it runs with `--listen 127.0.0.1:0 --log-format json`; its
//! address comes from the "agtpd ready" line, and every later log line is kept as JSON
//! for [`TestDaemon::wait_for`].

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agtp_core::module::Module;
use agtpd::config::Config;
use agtpd::gateway::GatewayListener;
use agtpd::Daemon;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::wait;

/// How long a binary may take to log its readiness, and to exit after a signal.
const PROCESS_LIMIT: Duration = Duration::from_secs(15);

/// A running daemon; a process is killed when this is dropped.
pub struct TestDaemon {
    /// Where it listens for AGTP.
    pub addr: SocketAddr,
    run: Run,
}

enum Run {
    InProcess {
        daemon: Arc<Daemon>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<()>,
    },
    Process {
        child: Child,
        ready: Value,
        log: Arc<Mutex<Vec<Value>>>,
    },
}

/// An in-process daemon about to start: its configuration, and optionally gateway
/// listeners and exactly the modules to run.
pub struct InProcess {
    config: Config,
    gateway: Vec<GatewayListener>,
    modules: Option<Vec<Arc<dyn Module>>>,
}

impl InProcess {
    /// Also serves runtimes on `listener` (the tests bind it, usually in a temp dir).
    pub fn gateway(mut self, listener: GatewayListener) -> Self {
        self.gateway.push(listener);
        self
    }

    /// Runs exactly `modules`, in this order, instead of those the config selects.
    pub fn modules(mut self, modules: Vec<Arc<dyn Module>>) -> Self {
        self.modules = Some(modules);
        self
    }

    /// Validates the configuration, builds the daemon and serves.
    pub async fn start(self) -> TestDaemon {
        self.config.validate(false).expect("test config is valid");
        let daemon = match self.modules {
            Some(modules) => Daemon::with_modules(&self.config, modules),
            None => Daemon::new(&self.config),
        }
        .expect("daemon builds");
        let daemon = Arc::new(daemon);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = daemon.clone();
        let gateway = self.gateway;
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            serving.serve(vec![listener], gateway, shutdown).await
        });
        TestDaemon {
            addr,
            run: Run::InProcess {
                daemon,
                stop: Some(stop),
                task,
            },
        }
    }
}

/// The real binary about to start: its path, flags and environment (cleared, then these).
pub struct Binary {
    command: Command,
}

impl Binary {
    /// `--config PATH`.
    pub fn config(mut self, path: impl AsRef<Path>) -> Self {
        self.command.arg("--config").arg(path.as_ref());
        self
    }

    /// More flags or arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.command.args(args);
        self
    }

    /// Environment variables for the daemon.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        self.command.envs(vars.iter().copied());
        self
    }

    /// Starts it and waits for "agtpd ready".
    pub fn start(mut self) -> TestDaemon {
        let mut child = self.command.stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = loop {
            let line = lines.next().expect("agtpd logs its readiness").unwrap();
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if event["fields"]["message"] == "agtpd ready" {
                break event;
            }
        };
        let addr = ready["fields"]["listen"].as_str().unwrap().parse().unwrap();
        // Keep reading, so the daemon never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let collected = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let event = serde_json::from_str(&line).unwrap_or(Value::String(line));
                collected.lock().unwrap().push(event);
            }
        });
        TestDaemon {
            addr,
            run: Run::Process { child, ready, log },
        }
    }
}

impl TestDaemon {
    /// A daemon in this process for `config`; `.start().await` serves it.
    pub fn in_process(config: Config) -> InProcess {
        InProcess {
            config,
            gateway: Vec::new(),
            modules: None,
        }
    }

    /// [`TestDaemon::in_process`] with nothing else, started.
    pub async fn start(config: Config) -> TestDaemon {
        TestDaemon::in_process(config).start().await
    }

    /// The real binary at `agtpd` (a test's `env!("CARGO_BIN_EXE_agtpd")`), with
    /// `--listen 127.0.0.1:0 --log-format json` and a clean environment but `PATH`.
    pub fn binary(agtpd: &str) -> Binary {
        TestDaemon::binary_under(&[], agtpd)
    }

    /// Like [`TestDaemon::binary`], started through `wrapper` (a program that execs its
    /// last argument, such as `prlimit --as=BYTES --`), so the pid is still the daemon's.
    pub fn binary_under(wrapper: &[&str], agtpd: &str) -> Binary {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(agtpd);
                command
            }
            None => Command::new(agtpd),
        };
        command
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        Binary { command }
    }

    /// The in-process daemon.
    pub fn daemon(&self) -> &Arc<Daemon> {
        match &self.run {
            Run::InProcess { daemon, .. } => daemon,
            Run::Process { .. } => panic!("the daemon runs in another process"),
        }
    }

    /// A new connection to the AGTP listener.
    pub async fn client(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.unwrap())
    }

    /// In process: starts the drain, and returns the task that ends when it is done.
    pub fn begin_stop(&mut self) -> &mut JoinHandle<()> {
        match &mut self.run {
            Run::InProcess { stop, task, .. } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                task
            }
            Run::Process { .. } => panic!("a process is stopped with a signal"),
        }
    }

    /// In process: drains and waits (at most 60 s) until the daemon has stopped.
    pub async fn stop(mut self) {
        let task = self.begin_stop();
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("daemon stops")
            .unwrap();
    }

    fn process(&self) -> (&Child, &Value, &Arc<Mutex<Vec<Value>>>) {
        match &self.run {
            Run::Process { child, ready, log } => (child, ready, log),
            Run::InProcess { .. } => panic!("the daemon runs in this process"),
        }
    }

    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.process().0.id()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid() as i32), signal).unwrap();
    }

    /// The "agtpd ready" log event.
    pub fn ready(&self) -> &Value {
        self.process().1
    }

    /// The admin listener's address, from the ready event.
    pub fn admin(&self) -> SocketAddr {
        self.ready()["fields"]["admin"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("agtpd runs with an admin listener")
    }

    /// The log events after "agtpd ready" that satisfy `pred`, so far.
    pub fn events(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let log = self.process().2.lock().unwrap();
        log.iter().filter(|e| pred(e)).cloned().collect()
    }

    /// The first event satisfying `pred`, waiting at most 15 s for it.
    pub fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_n(1, pred).remove(0)
    }

    /// The first `n` events satisfying `pred`, waiting at most 15 s for them.
    pub fn wait_for_n(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let what = format!("{n} log events of the kind asked for");
        wait::blocking_until(&what, PROCESS_LIMIT, || {
            let mut found = self.events(&pred);
            (found.len() >= n).then(|| {
                found.truncate(n);
                found
            })
        })
    }

    /// [`TestDaemon::wait_for_n`] for an async test, whose other tasks keep running
    /// meanwhile.
    pub async fn until_events(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let what = format!("{n} log events of the kind asked for");
        wait::until(&what, PROCESS_LIMIT, || {
            let mut found = self.events(&pred);
            std::future::ready((found.len() >= n).then(|| {
                found.truncate(n);
                found
            }))
        })
        .await
    }

    /// The exit code, waiting at most 15 s for the process to end.
    pub fn wait(mut self) -> Option<i32> {
        let Run::Process { child, .. } = &mut self.run else {
            panic!("the daemon runs in this process");
        };
        let status =
            wait::blocking_until("agtpd exits", PROCESS_LIMIT, || child.try_wait().unwrap());
        status.code()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Run::Process { child, .. } = &mut self.run {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `message` of a JSON log event.
pub fn message(event: &Value) -> &str {
    event["fields"]["message"].as_str().unwrap_or("")
}

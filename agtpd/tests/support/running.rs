//! The real `agtpd` binary, started on 127.0.0.1:0; its address is read from the
//! "agtpd ready" line of its JSON log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::net::TcpStream;

use super::Client;

/// The binary under test.
pub const AGTPD: &str = env!("CARGO_BIN_EXE_agtpd");

/// Writes `dir/agtpd.toml` for the test site in `dir` (`agents/`, `endpoints/`) with its
/// gateway on `socket` and `extra` appended; returns its path.
pub fn write_config(dir: &Path, socket: &Path, extra: &str) -> PathBuf {
    let config = format!(
        "agents_dir = {:?}\nendpoints_dir = {:?}\ngateway_socket = {:?}\n{extra}",
        dir.join("agents"),
        dir.join("endpoints"),
        socket,
    );
    let path = dir.join("agtpd.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// A daemon process, killed when dropped.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// The "agtpd ready" log event.
    pub ready: serde_json::Value,
    /// Every JSON log event after it, as it comes.
    pub log: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Running {
    /// Starts agtpd with `config`, a clean environment plus `envs`, and extra `args`.
    pub fn start(config: &str, envs: &[(&str, &str)], args: &[&str]) -> Running {
        let mut child = Command::new(AGTPD)
            .args([
                "--config",
                config,
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .args(args)
            .env_clear()
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = loop {
            let line = lines.next().expect("agtpd logs its readiness").unwrap();
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["fields"]["message"] == "agtpd ready" {
                break event;
            }
        };
        let addr = ready["fields"]["listen"].as_str().unwrap().parse().unwrap();
        // Keep reading the log so the daemon never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let collected = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str(&line) {
                    collected.lock().unwrap().push(event);
                }
            }
        });
        Running {
            child,
            addr,
            ready,
            log,
        }
    }

    /// The admin listener's address, when `--admin-listen` or `[admin] listen` set one.
    pub fn admin(&self) -> SocketAddr {
        self.ready["fields"]["admin"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("agtpd runs with an admin listener")
    }

    /// The log events logged so far (after "agtpd ready") that satisfy `pred`.
    pub fn events(&self, pred: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|e| pred(e)).cloned().collect()
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    pub async fn client(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.unwrap())
    }

    /// The exit code, waiting up to 10 s.
    pub fn wait(mut self) -> Option<i32> {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("agtpd did not exit");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

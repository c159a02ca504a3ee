//! A real `redis-server` (Debian's package; `.ci/run` installs it) on a Unix socket in a
//! temporary directory, without persistence, for the shared-cache tests. It can be killed
//! and started again on the same socket.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// A running (or killed) `redis-server`.
pub struct RedisServer {
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one and waits until its socket exists.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            dir: TempDir::new().unwrap(),
            child: None,
        };
        server.restart();
        server
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The URL agtpd connects with.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Kills it with SIGKILL, as a crash would (nothing is persisted).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Stops (`true`, SIGSTOP) or resumes (SIGCONT) it: a server that hangs.
    pub fn freeze(&self, frozen: bool) {
        let signal = if frozen {
            nix::sys::signal::Signal::SIGSTOP
        } else {
            nix::sys::signal::Signal::SIGCONT
        };
        if let Some(child) = &self.child {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
            nix::sys::signal::kill(pid, signal).unwrap();
        }
    }

    /// Starts it again (empty) on the same socket.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(self.socket())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) is on PATH");
        self.child = Some(child);
        crate::wait::blocking_until("redis-server listens", Duration::from_secs(10), || {
            self.socket().exists().then_some(())
        });
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

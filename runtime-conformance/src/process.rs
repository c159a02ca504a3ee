//! The runtime under test as a child process: started with the gateway's environment,
//! its output kept for the report, signalled and waited for by the checks.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{timeout_at, Instant};

/// How many lines of the runtime's output the report keeps.
const MAX_OUTPUT_LINES: usize = 40;
/// Longest output line kept, in characters.
const MAX_LINE_CHARS: usize = 300;

type OutputTail = Arc<Mutex<VecDeque<String>>>;

/// A started runtime. Dropping it kills the process if it still runs.
pub(super) struct RuntimeProcess {
    child: Child,
    output: OutputTail,
    status: Option<ExitStatus>,
}

impl RuntimeProcess {
    /// Starts `command` with `AGTP_GATEWAY_SOCKET`, `AGTP_POOL` and `AGTP_CONNECTIONS=1` (so a
    /// reconnection is told apart from a second connection).
    pub(super) fn start(command: &[String], socket: &Path, pool: &str) -> std::io::Result<Self> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| std::io::Error::other("no runtime command given"))?;
        let mut child = Command::new(program)
            .args(args)
            .env("AGTP_GATEWAY_SOCKET", socket)
            .env("AGTP_POOL", pool)
            .env("AGTP_CONNECTIONS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let output = OutputTail::default();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(keep_lines(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(keep_lines(stderr, output.clone()));
        }
        Ok(RuntimeProcess {
            child,
            output,
            status: None,
        })
    }

    /// How the process ended, if it has.
    pub(super) fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the process ends or `deadline` passes.
    pub(super) async fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = timeout_at(deadline, self.child.wait()).await.ok()?.ok();
        }
        self.status
    }

    /// Sends SIGTERM.
    pub(super) fn terminate(&mut self) -> Result<(), String> {
        let pid = self
            .child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .ok_or("the runtime has already exited")?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(|e| format!("cannot send SIGTERM: {e}"))
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub(super) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The last lines the runtime printed.
    pub(super) fn output_tail(&self) -> Vec<String> {
        match self.output.lock() {
            Ok(lines) => lines.iter().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// "exited with status 1", "was killed by SIGTERM", or "is still running".
    pub(super) fn describe(&mut self) -> String {
        match self.exit_status() {
            Some(status) => describe_status(status),
            None => "is still running".to_owned(),
        }
    }
}

/// How a process ended, in words.
pub(super) fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(signal) => format!("was killed by {}", signal.as_str()),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => "ended".to_owned(),
    }
}

async fn keep_lines(stream: impl AsyncRead + Unpin, output: OutputTail) {
    let mut stream = BufReader::new(stream);
    let mut bytes = Vec::new();
    // Bytes, not `lines()`: output that is not UTF-8 must not stop the reading, or the
    // runtime would block once the pipe is full.
    while let Ok(n) = stream.read_until(b'\n', &mut bytes).await {
        if n == 0 {
            break;
        }
        let mut line = String::from_utf8_lossy(&bytes).trim_end().to_owned();
        bytes.clear();
        if let Some((cut, _)) = line.char_indices().nth(MAX_LINE_CHARS) {
            line.truncate(cut);
            line.push('…');
        }
        if let Ok(mut tail) = output.lock() {
            if tail.len() == MAX_OUTPUT_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
}

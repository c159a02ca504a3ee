//! The process manager, with the real `agtpd` binary and real runtime processes
//! (`misbehaving.py`): restarts, backoff, recycling, stop, and no orphans.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agtpd_harness::{body, message, query, Client, Endpoint, Site, TestDaemon, MISBEHAVING};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::AGTPD;

/// agtpd, the real binary, running `[[runtime]]` over a test site. Its runtimes inherit
/// `RUNTIME_LOG`, so what they were sent is journalled in the site's directory.
struct Supervised {
    daemon: TestDaemon,
    site: Site,
}

impl Supervised {
    /// `runtime` is the body of a `[[runtime]]` section for pool `default`.
    fn start(runtime: &str) -> Supervised {
        let site = Site::new(&[Endpoint::query("/things")]);
        let journal = site.dir.path().join("runtime.log");
        let daemon = TestDaemon::binary(AGTPD)
            .config(write_config(&site, runtime))
            .envs(&[("RUNTIME_LOG", journal.to_str().unwrap())])
            .start();
        Supervised { daemon, site }
    }

    /// Waits until the runtimes have been sent `n` requests.
    fn wait_for_requests(&self, n: usize) {
        let journal = self.site.dir.path().join("runtime.log");
        agtpd_harness::wait::blocking_until(
            "requests at the runtime",
            Duration::from_secs(10),
            || {
                let text = std::fs::read_to_string(&journal).unwrap_or_default();
                let sent = text
                    .lines()
                    .filter(|l| l.contains(r#""event": "request""#))
                    .count();
                (sent >= n).then_some(())
            },
        );
    }

    /// Rewrites the config file with another `[[runtime]]` body, for a SIGHUP.
    fn rewrite(&self, runtime: &str) {
        write_config(&self.site, runtime);
    }

    /// The pids of the processes that registered so far, in order.
    fn registered(&self) -> Vec<u64> {
        self.daemon
            .events(|e| message(e) == "runtime registered its process")
            .iter()
            .map(|e| e["fields"]["pid"].as_u64().unwrap())
            .collect()
    }

    /// The exit code, once agtpd ends.
    fn wait(self) -> Option<i32> {
        self.daemon.wait()
    }

    async fn ask(&self, input: &str) -> agtp_core::Response {
        self.daemon
            .client()
            .await
            .exchange(query("/things", input))
            .await
    }
}

impl std::ops::Deref for Supervised {
    type Target = TestDaemon;

    fn deref(&self) -> &TestDaemon {
        &self.daemon
    }
}

/// Writes the site's `agtpd.toml` with one `[[runtime]]` section for pool `default`,
/// `runtime` as its body.
fn write_config(site: &Site, runtime: &str) -> std::path::PathBuf {
    let section = format!("\n[[runtime]]\npool = \"default\"\n{runtime}");
    agtpd_harness::write_config(site.dir.path(), &site.socket, &section)
}

/// Whether `pid` is gone: no `/proc` entry, or a zombie waiting for init.
fn gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

fn wait_gone(pid: u64) -> bool {
    let start = Instant::now();
    while !gone(pid) {
        if start.elapsed() > Duration::from_secs(5) {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// Requests from `clients` concurrent tasks, each on a new connection per request:
/// `rounds` per task, or fewer if [`Load::finish`] stops them first. None may take
/// over 5 s.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<agtp_core::Response>>>,
}

impl Load {
    fn start(addr: SocketAddr, clients: usize, rounds: usize, input: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for _ in 0..rounds {
                        if stop.load(Relaxed) {
                            break;
                        }
                        let mut client = Client::new(TcpStream::connect(addr).await.unwrap());
                        let answer = client.exchange(query("/things", input));
                        let answer = tokio::time::timeout(Duration::from_secs(5), answer);
                        answers.push(answer.await.expect("no request hangs"));
                    }
                    answers
                })
            })
            .collect();
        Load { stop, tasks }
    }

    /// Every answer, once each task ran its rounds.
    async fn answers(self) -> Vec<agtp_core::Response> {
        let mut answers = Vec::new();
        for task in self.tasks {
            answers.extend(task.await.unwrap());
        }
        answers
    }

    /// Stops the load and returns every answer.
    async fn finish(self) -> Vec<agtp_core::Response> {
        self.stop.store(true, Relaxed);
        self.answers().await
    }
}

fn statuses(answers: &[agtp_core::Response]) -> Vec<u16> {
    answers.iter().map(|a| a.status.code()).collect()
}

fn runtime(mode: &str) -> String {
    format!("command = \"python3\"\nargs = [{MISBEHAVING:?}, \"{mode}\"]\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_killed_under_load_answers_every_request_and_the_pool_recovers() {
    let agtpd = Supervised::start(&format!("{}connections = 4\n", runtime("ok")));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let victim = agtpd.registered()[0];
    let load = Load::start(agtpd.addr, 8, 4, r#"{"mode":"slow-ok","delay_ms":200}"#);
    // Once some requests were answered, the next ones are in flight at the runtime.
    agtpd.wait_for_n(4, |e| e["target"] == "agtpd::access");
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
    let statuses = statuses(&load.answers().await);
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the kill cut requests in flight: {statuses:?}"
    );
    let exit = agtpd.wait_for(|e| message(e).starts_with("runtime exited"));
    assert_eq!(exit["fields"]["signal"], "SIGKILL");
    agtpd.wait_for(|e| {
        message(e) == "runtime registered its process" && e["fields"]["pid"] != victim
    });
    assert_eq!(agtpd.ask("{}").await.status.code(), 200);
}

#[tokio::test]
async fn a_runtime_that_crashes_at_start_is_restarted_with_backoff_and_never_ready() {
    let crashing = "command = \"python3\"\nargs = [\"-c\", \"import sys; print('boom', file=sys.stderr); sys.exit(3)\"]\n";
    let agtpd = Supervised::start(crashing);
    let exited = |e: &Value| message(e).starts_with("runtime exited");
    let exits = agtpd.wait_for_n(3, exited);
    // The third exit announced 400 ms: a tight loop would have exited again meanwhile.
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(agtpd.events(exited).len(), 3, "restarts wait out the delay");
    assert!(exits.iter().all(|e| e["fields"]["code"] == 3));
    let delays: Vec<&str> = exits
        .iter()
        .map(|e| e["fields"]["restart_in"].as_str().unwrap())
        .collect();
    assert_eq!(&delays[..3], &["100ms", "200ms", "400ms"]);
    assert!(!agtpd
        .events(|e| e["fields"]["stream"] == "stderr" && message(e) == "boom")
        .is_empty());
    assert!(agtpd.events(|e| message(e) == "runtimes ready").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_finishes_the_requests_in_flight_and_leaves_no_runtime_behind() {
    let agtpd = Supervised::start(&format!("{}processes = 2\n", runtime("ok")));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let pids = agtpd.registered();
    assert_eq!(pids.len(), 2);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = Client::new(TcpStream::connect(agtpd.addr).await.unwrap());
        client
            .send(query("/things", r#"{"mode":"slow-ok","delay_ms":600}"#))
            .await;
        clients.push(client);
    }
    // Two connections: two requests are in the handlers, two wait in the queue.
    agtpd.wait_for_requests(2);
    agtpd.signal(Signal::SIGTERM);
    for client in &mut clients {
        assert_eq!(client.response().await.status.code(), 200);
    }
    assert_eq!(agtpd.wait(), Some(0));
    for pid in pids {
        assert!(gone(pid), "runtime {pid} outlived agtpd");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_requests_replaces_the_runtime_without_losing_a_request() {
    let agtpd = Supervised::start(&format!("{}max_requests = 15\n", runtime("ok")));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let load = Load::start(agtpd.addr, 4, 25, r#"{"mode":"slow-ok","delay_ms":5}"#);
    let answers: Vec<(u16, Option<u64>)> = load
        .answers()
        .await
        .iter()
        .map(|a| (a.status.code(), body(a)["pid"].as_u64()))
        .collect();
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let pids: BTreeSet<u64> = answers.iter().filter_map(|(_, pid)| *pid).collect();
    assert!(
        pids.len() >= 2,
        "served by several processes in turn: {pids:?}"
    );
    assert!(!agtpd
        .events(|e| message(e) == "max_requests reached; replacing the runtime")
        .is_empty());
    let first = agtpd.registered()[0];
    assert!(wait_gone(first), "the replaced runtime was stopped");
}

#[tokio::test]
async fn kill_9_of_agtpd_leaves_no_runtime_behind() {
    let agtpd = Supervised::start(&format!("{}processes = 2\n", runtime("ok")));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let pids = agtpd.registered();
    agtpd.signal(Signal::SIGKILL);
    let _ = agtpd.wait();
    for pid in pids {
        assert!(wait_gone(pid), "runtime {pid} outlived agtpd");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_replaces_every_runtime_new_ones_first_with_the_reloaded_settings() {
    let two = |tag: &str| {
        format!(
            "{}processes = 2\nenv = {{ TAG = \"{tag}\" }}\n",
            runtime("ok")
        )
    };
    let agtpd = Supervised::start(&two("before"));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let old = agtpd.registered();
    assert_eq!(old.len(), 2);
    let load = Load::start(
        agtpd.addr,
        4,
        usize::MAX,
        r#"{"mode":"slow-ok","delay_ms":50}"#,
    );
    let access = |e: &Value| e["target"] == "agtpd::access";
    agtpd.wait_for_n(8, access);
    agtpd.rewrite(&two("after"));
    agtpd.signal(Signal::SIGHUP);
    for pid in &old {
        assert!(wait_gone(*pid), "the old runtime {pid} was stopped");
    }
    // The load goes on against the new processes alone.
    let after_restart = agtpd.events(access).len();
    agtpd.wait_for_n(after_restart + 8, access);
    let statuses = statuses(&load.finish().await);
    assert!(
        statuses.len() > 20,
        "load ran through the restart: {}",
        statuses.len()
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let log = agtpd.events(|_| true);
    let position = |pred: &dyn Fn(&Value) -> bool| log.iter().position(pred).unwrap();
    let new: Vec<u64> = agtpd
        .registered()
        .into_iter()
        .filter(|p| !old.contains(p))
        .collect();
    assert_eq!(new.len(), 2, "one new process per slot: {new:?}");
    let first_new = position(&|e| {
        message(e) == "runtime registered its process"
            && new.contains(&e["fields"]["pid"].as_u64().unwrap())
    });
    for pid in &old {
        let stopped = position(&|e| message(e) == "runtime stopped" && e["fields"]["pid"] == *pid);
        assert!(
            first_new < stopped,
            "a new process registered before {pid} was stopped"
        );
    }
    for pid in &new {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        assert!(
            vars.contains(&&b"TAG=after"[..]),
            "runtime {pid} runs with the reloaded env"
        );
    }
    assert!(!agtpd
        .events(|e| message(e) == "reloaded" && e["fields"]["key"] == "runtime")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replacement_that_cannot_start_leaves_the_old_runtime_serving_and_retries_with_backoff() {
    // Starts once; every later start of this command fails at once.
    let marker = tempfile::tempdir().unwrap();
    let marker = marker.path().join("started");
    let once = format!(
        "import os, sys\nif os.path.exists({marker:?}): sys.exit(3)\nopen({marker:?}, 'w').close()\nos.execvp('python3', ['python3', {MISBEHAVING:?}, 'ok'])"
    );
    let agtpd = Supervised::start(&format!(
        "command = \"python3\"\nargs = [\"-c\", {once:?}]\nmax_requests = 3\n"
    ));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let original = agtpd.registered()[0];
    for _ in 0..3 {
        assert_eq!(agtpd.ask("{}").await.status.code(), 200);
    }
    let failed = |e: &Value| {
        message(e) == "the replacement did not register; the running process keeps serving"
    };
    let retries: Vec<String> = agtpd
        .wait_for_n(3, failed)
        .iter()
        .map(|e| e["fields"]["retry_in"].as_str().unwrap().to_owned())
        .collect();
    // The third failure announced 400 ms: a tight loop would have failed again meanwhile.
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(agtpd.events(failed).len(), 3, "retries wait out the delay");
    let mut pids = BTreeSet::new();
    for _ in 0..5 {
        let response = agtpd.ask("{}").await;
        assert_eq!(response.status.code(), 200);
        pids.insert(body(&response)["pid"].as_u64().unwrap());
    }
    assert_eq!(
        pids,
        BTreeSet::from([original]),
        "the old runtime kept serving"
    );
    assert_eq!(&retries[..3], &["100ms", "200ms", "400ms"]);
}

/// The pids that answered `n` requests, each on a new connection.
async fn answering_pids(agtpd: &Supervised, n: usize) -> BTreeSet<u64> {
    let mut pids = BTreeSet::new();
    for _ in 0..n {
        let response = agtpd.ask("{}").await;
        assert_eq!(response.status.code(), 200);
        pids.insert(body(&response)["pid"].as_u64().unwrap());
    }
    pids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_launcher_that_does_not_exec_counts_as_its_runtime_past_start_timeout() {
    // `sh -c` with two commands forks python3 instead of exec'ing it.
    let launcher = format!(
        "command = \"sh\"\nargs = [\"-c\", \"python3 {MISBEHAVING} ok --connections 2; exit $?\"]\nstart_timeout = \"1s\"\n"
    );
    let agtpd = Supervised::start(&launcher);
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let launcher = agtpd.registered()[0];
    // Past start_timeout: a registration matched by the exact pid would have been killed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let served_by = answering_pids(&agtpd, 3).await;
    assert_eq!(served_by.len(), 1, "{served_by:?}");
    let child = *served_by.first().unwrap();
    assert_ne!(child, launcher, "the launcher's child serves");
    assert!(agtpd
        .events(|e| message(e).contains("did not register in time"))
        .is_empty());
    agtpd.signal(Signal::SIGTERM);
    assert_eq!(agtpd.wait(), Some(0));
    for pid in [launcher, child] {
        assert!(wait_gone(pid), "{pid} outlived agtpd");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefork_runtime_serves_from_every_worker_and_a_rolling_restart_replaces_them_all() {
    let prefork = format!(
        "command = \"python3\"\nargs = [{MISBEHAVING:?}, \"ok\", \"--workers\", \"2\", \"--connections\", \"2\"]\nstart_timeout = \"1s\"\n"
    );
    let agtpd = Supervised::start(&prefork);
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let master = agtpd.registered()[0];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let workers = answering_pids(&agtpd, 24).await;
    assert_eq!(workers.len(), 2, "both workers serve: {workers:?}");
    assert!(!workers.contains(&master), "the master holds no connection");

    agtpd.rewrite(&format!("{prefork}env = {{ GENERATION = \"2\" }}\n"));
    agtpd.signal(Signal::SIGHUP);
    for pid in workers.iter().chain([&master]) {
        assert!(wait_gone(*pid), "the rolling restart stopped {pid}");
    }
    let replaced = answering_pids(&agtpd, 24).await;
    assert_eq!(replaced.len(), 2, "{replaced:?}");
    assert!(replaced.is_disjoint(&workers));

    agtpd.signal(Signal::SIGTERM);
    assert_eq!(agtpd.wait(), Some(0));
    for pid in replaced {
        assert!(wait_gone(pid), "worker {pid} outlived agtpd");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_line_carries_the_client_ids_and_the_response_id_the_runtime_call_carries() {
    let journal = tempfile::tempdir().unwrap();
    let journal = journal.path().join("runtime.log");
    let agtpd = Supervised::start(&format!(
        "{}env = {{ RUNTIME_LOG = {journal:?} }}\n",
        runtime("ok")
    ));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let mut client = Client::new(TcpStream::connect(agtpd.addr).await.unwrap());
    let request = query("/things", "{}").replace(
        "\r\n\r\n",
        "\r\nRequest-ID: req-7\r\nTask-ID: task-9\r\n\r\n",
    );
    let response = client.exchange(request).await;
    assert_eq!(response.status.code(), 200);
    let response_id = response.headers.get("Response-ID").unwrap().to_owned();
    let access = agtpd.wait_for(|e| e["target"] == "agtpd::access");
    let fields = &access["fields"];
    assert_eq!(fields["response_id"], response_id.as_str());
    assert_eq!(fields["request_id"], "req-7");
    assert_eq!(fields["task_id"], "task-9");
    let seen = std::fs::read_to_string(&journal).unwrap();
    let call: Value = seen
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "request")
        .unwrap();
    assert_eq!(call["request_id"], response_id.as_str(), "the frame's id");
    assert_eq!(call["envelope"]["request_id"], "req-7");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sighup_that_changes_no_runtime_setting_restarts_no_runtime() {
    let agtpd = Supervised::start(&runtime("ok"));
    agtpd.wait_for(|e| message(e) == "runtimes ready");
    let before = agtpd.registered();
    agtpd.rewrite(&format!("{}max_requests = 0\n", runtime("ok")));
    agtpd.signal(Signal::SIGHUP);
    agtpd.wait_for(|e| message(e) == "configuration reloaded");
    // A refused reload restarts nothing either.
    std::fs::write(
        agtpd.site.dir.path().join("agtpd.toml"),
        "unknown_key = 1\n",
    )
    .unwrap();
    agtpd.signal(Signal::SIGHUP);
    agtpd.wait_for(|e| message(e) == "reload refused; the running configuration stays");
    assert_eq!(
        answering_pids(&agtpd, 3).await,
        BTreeSet::from_iter(before.clone())
    );
    assert!(agtpd
        .events(|e| message(e).starts_with("rolling restart"))
        .is_empty());
    assert_eq!(agtpd.registered(), before, "no process registered anew");
}

#[tokio::test]
async fn a_runtime_alive_without_a_gateway_connection_is_replaced_after_disconnected_timeout() {
    let agtpd = Supervised::start(&format!(
        "{}disconnected_timeout = \"1s\"\n",
        runtime("vanish")
    ));
    let first =
        agtpd_harness::wait::until("the runtime registers", Duration::from_secs(10), || async {
            agtpd.registered().first().copied()
        })
        .await;
    let replaced = agtpd
        .until_events(1, |e| {
            message(e) == "the runtime is alive but has no gateway connection; replacing it"
        })
        .await;
    assert_eq!(replaced[0]["fields"]["pid"].as_u64(), Some(first));
    agtpd_harness::wait::until(
        "a new process registers",
        Duration::from_secs(10),
        || async {
            agtpd
                .registered()
                .iter()
                .any(|pid| *pid != first)
                .then_some(())
        },
    )
    .await;
    assert!(wait_gone(first), "the disconnected process is stopped");
    agtpd.signal(Signal::SIGTERM);
    assert_eq!(agtpd.wait(), Some(0));
}

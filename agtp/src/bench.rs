//! `agtp bench`: one request, pre-encoded once, sent over and over from `-c` connections
//! on a multi-threaded runtime, each connection with one request in flight.
//!
//! Each connection's loop counts into its own [`Tally`] (no shared locks on the hot
//! path; two relaxed counters feed the progress line); the tallies are merged at the
//! end. Time is split into an optional warm-up, whose results are dropped, and the
//! measured part, which ends after `-d` or once `-n` attempts have been claimed.

mod report;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use agtp_core::client::{Client, ClientConfig, Connection, ErrorKind, Origin, Stream};
use agtp_core::encode::encode_request;
use agtp_core::Status;
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use self::report::{Report, Tally};
use super::cli::BenchArgs;
use super::exit::Exit;
use super::request;

/// How long a run measures when neither `-d` nor `-n` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// What every connection loop reads.
struct Shared {
    client: Client,
    origin: Origin,
    /// The request, encoded once.
    request: Bytes,
    new_connection_per_request: bool,
    /// Results before this are warm-up and are dropped.
    measure_from: Instant,
    /// With `-d`: the end of the run.
    end: Option<Instant>,
    /// With `-n`: attempts not yet claimed.
    left: Option<AtomicU64>,
    /// Measured responses and failed attempts so far, for the progress line.
    responses: AtomicU64,
    failures: AtomicU64,
}

/// Runs the benchmark and prints its report.
pub(crate) fn run(args: BenchArgs) -> Exit {
    let (uri, mut request) = match request::build(&args.target, args.body.as_deref()) {
        Ok(built) => built,
        Err(failure) => return failure.report(),
    };
    let config = match request::client_config(&args.tls, args.timeout) {
        Ok(config) => ClientConfig {
            max_idle_per_host: 0,
            ..config
        },
        Err(failure) => return failure.report(),
    };
    if args.new_connection_per_request {
        request.headers.set("Connection", "close");
    }
    let origin = request::origin(&uri, &args.tls);
    let mut encoded = BytesMut::new();
    encode_request(&request, &mut encoded);
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |n| n as usize,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agtp: cannot start the async runtime: {error}");
            return Exit::Software;
        }
    };
    let what = format!(
        "agtp bench: {} {} on {uri} ({}), {} connections, {}",
        request.method,
        request.path.as_deref().unwrap_or("(no path)"),
        if origin.is_tls() { "TLS" } else { "plaintext" },
        args.connections,
        if args.new_connection_per_request {
            "a new connection per request"
        } else {
            "keep-alive"
        },
    );
    let report = runtime.block_on(async {
        let start = Instant::now();
        let measure_from = start + args.warmup;
        let end = match (args.duration, args.requests) {
            (_, Some(_)) => None,
            (duration, None) => Some(measure_from + duration.unwrap_or(DEFAULT_DURATION)),
        };
        let shared = Arc::new(Shared {
            client: Client::new(config),
            origin,
            request: encoded.freeze(),
            new_connection_per_request: args.new_connection_per_request,
            measure_from,
            end,
            left: args.requests.map(AtomicU64::new),
            responses: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        drive(shared, args.connections).await
    });
    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("agtp: cannot encode the report: {error}");
                return Exit::Software;
            }
        }
    } else {
        print!("{}", report.text(&what));
    }
    Exit::Success
}

async fn drive(shared: Arc<Shared>, connections: u32) -> Report {
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(progress(shared.clone())));
    let loops: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection_loop(shared.clone())))
        .collect();
    let mut total = Tally::new();
    for handle in loops {
        match handle.await {
            Ok(tally) => total.merge(&tally),
            Err(error) => eprintln!("agtp: a connection loop failed: {error}"),
        }
    }
    let mut elapsed = Instant::now().saturating_duration_since(shared.measure_from);
    if let Some(end) = shared.end {
        elapsed = elapsed.min(end.saturating_duration_since(shared.measure_from));
    }
    if let Some(progress) = progress {
        progress.abort();
        eprint!("\r\x1b[2K");
    }
    Report::new(&total, elapsed)
}

/// One connection: attempt, count, repeat until the run ends.
async fn connection_loop(shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::new();
    let mut slot: Option<Connection<Stream>> = None;
    loop {
        let measured = Instant::now() >= shared.measure_from;
        if measured && !claim(&shared) {
            break;
        }
        let outcome = match shared.end {
            // A request still in flight when the run ends is not counted.
            Some(end) => match tokio::time::timeout_at(end, attempt(&shared, &mut slot)).await {
                Ok(outcome) => outcome,
                Err(_) => break,
            },
            None => attempt(&shared, &mut slot).await,
        };
        if !measured {
            continue;
        }
        match outcome {
            Ok((status, latency)) => {
                tally.response(status, latency);
                shared.responses.fetch_add(1, Relaxed);
            }
            Err(kind) => {
                tally.error(kind);
                shared.failures.fetch_add(1, Relaxed);
            }
        }
    }
    tally
}

/// Whether the run goes on for one more attempt (and, with `-n`, takes one from the
/// budget).
fn claim(shared: &Shared) -> bool {
    if shared.end.is_some_and(|end| Instant::now() >= end) {
        return false;
    }
    match &shared.left {
        Some(left) => left
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok(),
        None => true,
    }
}

/// One request: connect first if needed. Latency runs from writing the request to the
/// end of the response; with a new connection per request it includes connecting.
async fn attempt(
    shared: &Shared,
    slot: &mut Option<Connection<Stream>>,
) -> Result<(Status, Duration), ErrorKind> {
    let started = Instant::now();
    let mut connection = match slot.take() {
        Some(connection) if connection.is_reusable() => connection,
        _ => shared
            .client
            .connect(&shared.origin)
            .await
            .map_err(|e| e.kind())?,
    };
    let sent = Instant::now();
    let response = connection
        .send_encoded(&shared.request)
        .await
        .map_err(|e| e.kind())?;
    let since = if shared.new_connection_per_request {
        started
    } else {
        sent
    };
    let latency = since.elapsed();
    if !shared.new_connection_per_request {
        *slot = Some(connection);
    }
    Ok((response.status, latency))
}

/// Once a second on a terminal: elapsed time, the last second's rate, totals.
async fn progress(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now < shared.measure_from {
            eprint!("\r\x1b[2K  warming up");
            continue;
        }
        let responses = shared.responses.load(Relaxed);
        let failures = shared.failures.load(Relaxed);
        let elapsed = now.duration_since(shared.measure_from).as_secs();
        eprint!(
            "\r\x1b[2K  {elapsed:>4}s  {:>8} req/s  {responses} responses  {failures} failed",
            responses.saturating_sub(last)
        );
        last = responses;
    }
}

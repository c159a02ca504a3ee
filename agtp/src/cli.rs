//! The `agtp` flags: one request (the default), or `agtp bench`.

use std::path::PathBuf;
use std::time::Duration;

use agtp_core::client::Uri;
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
URI forms:
  agtp://host[:port]                   the server (a bare URI sends a target-less DISCOVER)
  agtp://AGENT-ID@host[:port]          an agent by its 64-hex Agent-ID (sent as Agent-ID)
  agtp://host[:port]/agents/NAME       an agent by local name (sent as the path)
  The port defaults to 4480; IPv6 goes in brackets: agtp://[::1]:4480

TLS or plaintext:
  TLS 1.3 unless the host is loopback (127.0.0.0/8, ::1, localhost), where agtpd serves
  plaintext. --tls, --cacert, --insecure or --cert ask for TLS on loopback too. Certificates
  are checked against the system's roots plus any --cacert. --cert and --key present a
  client certificate (an agent certificate, `agtpd cert agent`) to a server that asks.

Output:
  The response body on stdout: pretty-printed JSON on a terminal, the raw bytes when piped.
  -i prints the status line and headers first. Errors go to stderr.

Exit codes:
  0  the response was 2xx               7  cannot connect (refused, unreachable, no such host)
  1  1xx    3  3xx                      8  TLS failed (certificate, handshake)
  4  4xx    5  5xx                      9  timed out waiting for the response
  6  a status of 600 or above          10  the response was not valid AGTP
 64  usage error                       11  the connection closed before the response ended
 66  a file named by -d @FILE or --cacert cannot be read";

const BENCH_AFTER_HELP: &str = "\
Latency is measured per request: from writing it to reading the whole response; with
--new-connection-per-request it includes connecting (and the TLS handshake).

--json prints one object:
  {\"requests\": N, \"duration_s\": F, \"rps\": F,
   \"latency_us\": {\"p50\": N, \"p90\": N, \"p99\": N, \"p999\": N, \"max\": N},
   \"errors\": {\"connect\": N, \"tls\": N, \"timeout\": N, \"protocol\": N, \"closed\": N,
              \"1xx\": N, \"3xx\": N, \"4xx\": N, \"5xx\": N},
   \"status\": {\"200\": N, ...}}
requests counts responses, whatever their status, and equals the sum over status. The
first five errors are attempts that got no response (not in requests); the status classes
count non-2xx responses (also in requests). With -n, requests plus the first five errors
add up to N. Exit code 0 once the run completes, whatever it measured; 64 on usage errors.";

/// agtp: send an AGTP/1.0 request and print the response.
///
/// METHOD defaults to DISCOVER. A second argument starting with `/` is the path (the
/// method then stays DISCOVER): `agtp agtp://localhost /methods`.
#[derive(Debug, Parser)]
#[command(
    name = "agtp",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) call: CallArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send one request over and over from many connections and report throughput,
    /// latency percentiles and errors.
    #[command(after_help = BENCH_AFTER_HELP)]
    Bench(Box<BenchArgs>),
    /// Writes the man pages into DIR (used when packaging).
    #[command(name = "__man-pages", hide = true)]
    ManPages(ManPagesArgs),
}

/// `agtp __man-pages DIR`.
#[derive(Debug, Args)]
pub(crate) struct ManPagesArgs {
    /// The directory to write the pages into.
    pub(crate) dir: std::path::PathBuf,
}

/// One request.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Request body: JSON inline, `@FILE` to read a file, `@-` for stdin. Sets
    /// Content-Type: application/json unless -H sets a Content-Type.
    #[arg(short = 'd', long = "data", value_name = "JSON|@FILE")]
    pub(crate) data: Option<String>,

    /// Print the status line and the response headers before the body.
    #[arg(short = 'i', long = "include")]
    pub(crate) include: bool,

    /// Give up connecting, and then waiting for the response, after this long each.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub(crate) timeout: Duration,

    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

/// What to send and where: shared by a single request and `bench`.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// agtp://host[:port], agtp://AGENT-ID@host[:port] or agtp://host[:port]/agents/NAME.
    #[arg(value_name = "URI", required = true, value_parser = uri)]
    pub(crate) uri: Option<Uri>,

    /// The verb (DISCOVER when absent), or the path when it starts with `/`.
    #[arg(value_name = "METHOD")]
    pub(crate) method: Option<String>,

    /// The path, with an optional ?query.
    #[arg(value_name = "PATH")]
    pub(crate) path: Option<String>,

    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,

    /// The Agent-ID header (64 hex digits); same as agtp://AGENT-ID@host.
    #[arg(long, value_name = "ID")]
    pub(crate) agent_id: Option<String>,
}

/// TLS choices, shared by a single request and `bench`.
#[derive(Debug, Args)]
pub(crate) struct TlsArgs {
    /// Use TLS even though the host is loopback.
    #[arg(long)]
    pub(crate) tls: bool,

    /// Also trust the certificates in this PEM file (implies --tls).
    #[arg(long, value_name = "PATH")]
    pub(crate) cacert: Option<PathBuf>,

    /// Do not verify the server's certificate at all (implies --tls). Testing only.
    #[arg(long, short = 'k')]
    pub(crate) insecure: bool,

    /// Present this client certificate (PEM; implies --tls), for a server that asks
    /// for one (mTLS); needs --key.
    #[arg(long, value_name = "PATH", requires = "key")]
    pub(crate) cert: Option<PathBuf>,

    /// The private key of --cert (PEM).
    #[arg(long, value_name = "PATH", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
}

/// `agtp bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Request body for every request: JSON inline or `@FILE`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub(crate) body: Option<String>,

    /// Concurrent connections, each with one request in flight.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) connections: u32,

    /// How long to measure (default 10s unless -n is given).
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = duration,
          conflicts_with = "requests")]
    pub(crate) duration: Option<Duration>,

    /// Stop after this many measured attempts instead of after a duration.
    #[arg(short = 'n', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) requests: Option<u64>,

    /// Run this long before measuring; nothing from the warm-up is counted.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub(crate) warmup: Duration,

    /// Open a new connection for every request (sent with `Connection: close`) instead
    /// of keeping each connection alive.
    #[arg(long)]
    pub(crate) new_connection_per_request: bool,

    /// Per-request limit for connecting, and for the response.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub(crate) timeout: Duration,

    /// Print the result as one JSON object (shape below) instead of text.
    #[arg(long)]
    pub(crate) json: bool,

    /// Threads generating load (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) threads: Option<u32>,

    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

fn uri(s: &str) -> Result<Uri, String> {
    s.parse()
        .map_err(|e: agtp_core::client::UriError| e.to_string())
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (try 500ms, 10s, 2m)"))
}

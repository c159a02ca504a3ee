//! Command-line flags. Every flag that shapes the daemon is also a config key; flags
//! override the file and the environment (see [`crate::config`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::logging::LogFormat;

/// agtpd: the AGTP/1.0 daemon.
///
/// Terminates AGTP on TCP (TLS 1.3; plaintext only on loopback unless explicitly
/// allowed), validates every request, and routes it to an endpoint.
///
/// Configuration is layered: built-in defaults < TOML file (--config, else
/// /etc/agtpd/agtpd.toml when it exists) < AGTPD_* environment (nested keys with `__`,
/// e.g. AGTPD_LIMITS__MAX_BODY=2097152) < these flags.
///
/// Exit codes: 0 success, 64 usage error, 78 configuration error, 71 a listener could not
/// be bound, 70 internal error; `agtpd health`: 1 not ready or not answering.
#[derive(Debug, Clone, Parser)]
#[command(name = "agtpd", version)]
pub struct Cli {
    /// Configuration file (TOML). Without it, /etc/agtpd/agtpd.toml is read when it exists.
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Address to listen on (repeatable; replaces `listen` from the config).
    #[arg(short, long = "listen", value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Validate the whole configuration (files it names included), print the result and exit.
    #[arg(long)]
    pub check_config: bool,

    /// Log format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Value of the Server-ID header on every response.
    #[arg(long, value_name = "ID")]
    pub server_id: Option<String>,

    /// Allow plaintext on non-loopback addresses. Takes effect only together with
    /// `tls.allow_plaintext_off_loopback = true` in the config.
    #[arg(long)]
    pub insecure: bool,

    /// Unix socket where runtime processes connect (the gateway).
    #[arg(long, value_name = "PATH")]
    pub gateway_socket: Option<PathBuf>,

    /// Directory of `*.agent.json` agent documents.
    #[arg(long, value_name = "DIR")]
    pub agents_dir: Option<PathBuf>,

    /// Directory of endpoint TOML files, one endpoint each.
    #[arg(long, value_name = "DIR")]
    pub endpoints_dir: Option<PathBuf>,

    /// Enable a compiled-in operational module (repeatable, in pipeline order; replaces
    /// `[modules] load` from the config). See --list-modules.
    #[arg(long = "load-module", value_name = "NAME")]
    pub load_module: Vec<String>,

    /// Address of the admin listener (/healthz, /readyz, /metrics, /status); replaces
    /// `[admin] listen`.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,

    /// Print the compiled-in operational modules and exit.
    #[arg(long)]
    pub list_modules: bool,

    /// A one-off task instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Tasks `agtpd` runs instead of serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Generate an Ed25519 signing key pair for `[signing] key_file`.
    Keygen(KeygenArgs),
    /// Make a local CA and issue agent (mTLS) and server certificates from it.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Play the daemon against a runtime command and report whether it follows the
    /// gateway protocol (`agtpd conformance -- python3 runtime.py`).
    Conformance(runtime_conformance::ConformanceArgs),
    /// Work with the audit log `mod-audit` writes.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Exit 0 when the agtpd at the admin address answers /readyz with 200 (with
    /// `--live`: /healthz); 1 when it is not ready or does not answer; 78 when no admin
    /// address is configured. For Docker's HEALTHCHECK and Kubernetes probes.
    Health(HealthArgs),
    /// Show a running agtpd's pools, runtimes, modules and counters (its /status).
    Status(StatusArgs),
    /// Internal: how agtpd starts a supervised runtime (parent-death signal, then exec).
    #[command(name = "__runtime-shim", hide = true)]
    RuntimeShim(ShimArgs),
    /// Internal: write the man pages of `agtpd` (used to build the package).
    #[command(name = "__man-pages", hide = true)]
    ManPages(ManPagesArgs),
}

/// `agtpd audit ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Verify every signature, the hash chain and the checkpoints of an audit log (the
    /// file and its rotated predecessors beside it); name the first bad line.
    Verify(AuditVerifyArgs),
}

/// `agtpd audit verify`.
#[derive(Debug, Clone, Args)]
pub struct AuditVerifyArgs {
    /// The log, as `[modules.audit] path` names it; rotated files beside it are included.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The daemon's public key (`signing.pub` from `agtpd keygen`).
    #[arg(long, value_name = "PUBKEY")]
    pub key: PathBuf,
    /// Accept a log that does not end with the shutdown checkpoint (the daemon is still
    /// running, or was killed) and report its unsealed tail instead of failing.
    #[arg(long)]
    pub open_tail: bool,
    /// A tree head recorded elsewhere (`SIZE:ROOT`, from an "audit checkpoint" log line):
    /// the log must contain it. Detects truncation back to an earlier checkpoint.
    /// Without it, the tree head the daemon keeps in `PATH.head` is the witness.
    #[arg(long, value_name = "SIZE:ROOT")]
    pub witness: Option<String>,
    /// Accept a chain that starts over after the daemon set a log aside (a key change, a
    /// broken or cut file), and set-aside files beside the log: report them, don't fail.
    #[arg(long)]
    pub accept_set_aside: bool,
}

/// `agtpd __runtime-shim --parent PID -- COMMAND [ARGS...]` (internal).
#[derive(Debug, Clone, Args)]
pub struct ShimArgs {
    /// The agtpd process that started the shim; the shim refuses to run without it.
    #[arg(long, value_name = "PID")]
    pub parent: i32,
    /// The runtime command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

/// Which running agtpd `health` and `status` ask: `--admin`, else `[admin] listen` from
/// the configuration, read through the same layers as the daemon's.
#[derive(Debug, Clone, Args)]
pub struct AdminTarget {
    /// Configuration file to read `[admin] listen` from (default /etc/agtpd/agtpd.toml
    /// when it exists; `AGTPD_ADMIN__LISTEN` overrides it).
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The admin address to ask, instead of the configured one.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
}

/// `agtpd health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// Ask liveness (/healthz: the process answers) instead of readiness (/readyz: the
    /// runtimes an endpoint needs are registered and agtpd is not draining).
    #[arg(long)]
    pub live: bool,
}

/// `agtpd status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// Print the /status JSON as it came.
    #[arg(long)]
    pub json: bool,
}

/// `agtpd __man-pages DIR` (internal).
#[derive(Debug, Clone, Args)]
pub struct ManPagesArgs {
    /// Existing directory to write `agtpd.1` and one page per subcommand into.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `agtpd cert`.
#[derive(Debug, Clone, Subcommand)]
pub enum CertCommand {
    /// Write a new CA (`ca.crt`, `ca.key`) into DIR, for `[tls] client_ca_file`.
    Ca {
        /// Directory to write into; existing files are never overwritten.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "agtpd local CA")]
        name: String,
        #[arg(long, value_name = "DAYS", default_value_t = 3650)]
        valid_days: i64,
    },
    /// Issue an agent certificate (BASE.crt, BASE.key) with AGTP extensions; prints the
    /// Agent-ID it proves.
    Agent(AgentCertArgs),
    /// Issue a certificate for agtpd's own listener (BASE.crt, BASE.key).
    Server {
        /// The CA directory (`agtpd cert ca`).
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Base path of the files to write.
        #[arg(long, value_name = "BASE")]
        out: PathBuf,
        /// A DNS name or IP address clients use (repeatable).
        #[arg(long = "name", value_name = "NAME", required = true)]
        names: Vec<String>,
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        valid_days: i64,
    },
}

/// `agtpd cert agent`.
#[derive(Debug, Clone, Args)]
pub struct AgentCertArgs {
    /// The CA directory (`agtpd cert ca`).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// Base path of the files to write.
    #[arg(long, value_name = "BASE")]
    pub out: PathBuf,
    /// The certificate's common name (default: the base name).
    #[arg(long)]
    pub common_name: Option<String>,
    /// `subject-agent-id`: the Agent-ID (64 lower-case hex) the certificate proves;
    /// without it, the SHA-256 of the certificate's key.
    #[arg(long, value_name = "HEX")]
    pub agent_id: Option<String>,
    /// `principal-id`.
    #[arg(long)]
    pub principal_id: Option<String>,
    /// `authority-scope-commitment`: a scope the agent may claim (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// `governance-zone`, such as `zone:finance`.
    #[arg(long)]
    pub zone: Option<String>,
    /// `trust-tier`: 1 verified, 2 org-asserted, 3 experimental.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub trust_tier: Option<u8>,
    /// `archetype`: assistant, analyst, executor, orchestrator or monitor.
    #[arg(long)]
    pub archetype: Option<String>,
    /// `activation-certificate-id` (64 lower-case hex).
    #[arg(long, value_name = "HEX")]
    pub activation_certificate_id: Option<String>,
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub valid_days: i64,
}

/// `agtpd keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Directory to write `signing.key` (PKCS#8 PEM, mode 0600) and `signing.pub` into;
    /// existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl Cli {
    /// The flags that override configuration keys, as a config fragment. Absent flags are
    /// left out so they do not mask lower layers.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: (!self.listen.is_empty()).then(|| self.listen.clone()),
            log_format: self.log_format,
            server_id: self.server_id.clone(),
            gateway_socket: self.gateway_socket.clone(),
            agents_dir: self.agents_dir.clone(),
            endpoints_dir: self.endpoints_dir.clone(),
            modules: (!self.load_module.is_empty()).then(|| ModulesOverride {
                load: self.load_module.clone(),
            }),
            admin: self.admin_listen.map(|listen| AdminOverride { listen }),
        }
    }
}

/// The config keys a flag can set.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<Vec<SocketAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_socket: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agents_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoints_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules: Option<ModulesOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin: Option<AdminOverride>,
}

/// `--admin-listen` replaces `[admin] listen` and leaves the rest of the table alone.
#[derive(Debug, Clone, Serialize)]
struct AdminOverride {
    listen: SocketAddr,
}

/// `--load-module` replaces `[modules] load` and leaves the module tables alone.
#[derive(Debug, Clone, Serialize)]
struct ModulesOverride {
    load: Vec<String>,
}

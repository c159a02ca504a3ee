//! Configuration: built-in defaults < TOML file < `AGTPD_*` environment < flags.
//!
//! Loading has no side effects beyond reading the files the configuration names, rejects
//! unknown keys at every level, and validates everything `--check-config` promises.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agtp_core::Limits;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, LogFormat, Overrides};

/// Read when `--config` is not given and the file exists.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/agtpd/agtpd.toml";

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// The `Server-ID` header on every response.
    pub server_id: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `agtpd=debug,info`.
    pub log_level: String,
    /// Connections served at once; further ones are refused with 503.
    pub max_connections: usize,
    /// Parser limits.
    pub limits: Limits,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Unix socket where runtime processes connect.
    pub gateway_socket: PathBuf,
    /// The runtime gateway: socket group, loopback TCP, queues and keepalive.
    pub gateway: GatewayConfig,
    /// The daemon's Ed25519 signing key, served to runtimes over `sign_request`.
    pub signing: SigningConfig,
    /// Directory of agent documents.
    pub agents_dir: Option<PathBuf>,
    /// Directory of endpoint files.
    pub endpoints_dir: Option<PathBuf>,
    /// Operational modules: `load` (pipeline order) and one `[modules.NAME]` table each.
    pub modules: ModulesConfig,
    /// A verb catalog replacing the compiled-in one.
    pub catalog_file: Option<PathBuf>,
    /// Server policies.
    pub policies: Policies,
    /// What the Server Manifest says about the operator.
    pub manifest: ManifestInfo,
    /// `[[runtime]]`: pools whose runtime processes agtpd runs.
    pub runtime: Vec<crate::supervisor::RuntimeConfig>,
    /// `[admin]`: the admin listener (health, readiness, metrics, status) and the
    /// slow-request log.
    pub admin: crate::admin::AdminConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], agtp_core::DEFAULT_PORT))],
            server_id: "agtpd".to_owned(),
            log_format: LogFormat::Human,
            log_level: "info".to_owned(),
            max_connections: 10_000,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            tls: TlsConfig::default(),
            gateway_socket: PathBuf::from("/run/agtpd/gateway.sock"),
            gateway: GatewayConfig::default(),
            signing: SigningConfig::default(),
            agents_dir: None,
            endpoints_dir: None,
            modules: ModulesConfig::default(),
            catalog_file: None,
            policies: Policies::default(),
            manifest: ManifestInfo::default(),
            runtime: Vec::new(),
            admin: crate::admin::AdminConfig::default(),
        }
    }
}

/// `[modules]`: which compiled-in modules run, in pipeline order, and their settings.
///
/// ```toml
/// [modules]
/// load = ["audit"]
///
/// [modules.audit]
/// path = "/var/log/agtpd/audit.log"
/// ```
/// A table for a module that is not compiled in is refused; each module refuses unknown
/// keys in its own table. `--load-module` replaces `load`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModulesConfig {
    /// The modules to run, in pipeline order (`on_request` order).
    pub load: Vec<String>,
    /// `[modules.NAME]`: each module's own table, checked by the module.
    #[serde(flatten)]
    pub tables: std::collections::BTreeMap<String, serde_json::Value>,
}

impl ModulesConfig {
    /// The `[modules.NAME]` table, or an empty one.
    pub fn table(&self, name: &str) -> serde_json::Value {
        self.tables
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()))
    }
}

/// `[policies]`: what the server admits beyond the protocol's own rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policies {
    /// Whether a server-level DISCOVER may omit `Agent-ID` (262 otherwise).
    pub anonymous_discovery: bool,
    /// Verb policy.
    pub methods: MethodPolicy,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            anonymous_discovery: true,
            methods: MethodPolicy::default(),
        }
    }
}

/// `[policies.methods]`. Embedded verbs are never refused by this policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MethodPolicy {
    /// When not empty, only these verbs (plus the embedded ones) are admitted.
    pub allow: Vec<String>,
    /// Verbs refused with 405 `method-not-allowed-by-policy`.
    pub disallow: Vec<String>,
    /// Admit the legacy HTTP verbs, served as their AGTP replacements (GET as FETCH).
    pub legacy: bool,
    /// `"METHOD /path" = "METHOD /path"` rewrites, applied once, after the gates.
    pub redirects: std::collections::BTreeMap<String, String>,
}

/// `[manifest]`: the operator block of the Server Manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestInfo {
    /// Who runs this server.
    pub operator: String,
    /// How to reach them (email or URL).
    pub contact: String,
    /// The operator's domain, when there is one.
    pub domain: Option<String>,
    /// How openly hosted agents are listed: `public`, `limited` or `private`.
    pub agent_disclosure: AgentDisclosure,
}

impl Default for ManifestInfo {
    fn default() -> Self {
        ManifestInfo {
            operator: "unspecified".to_owned(),
            contact: "unspecified".to_owned(),
            domain: None,
            agent_disclosure: AgentDisclosure::Public,
        }
    }
}

/// How openly the manifest lists hosted agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentDisclosure {
    /// Every agent with its id and name.
    Public,
    /// The count only.
    Limited,
    /// Nothing.
    Private,
}

/// Connection timeouts, written as durations (`"60s"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// A keep-alive connection with no request in progress is closed after this.
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
    /// From a request's first byte to the end of its head (408 past it).
    #[serde(with = "humantime_serde")]
    pub header: Duration,
    /// From the end of the head to the end of the body (408 past it).
    #[serde(with = "humantime_serde")]
    pub body: Duration,
    /// Writing one response; a client that does not read is dropped after this.
    #[serde(with = "humantime_serde")]
    pub write: Duration,
    /// The TLS handshake.
    #[serde(with = "humantime_serde")]
    pub tls_handshake: Duration,
    /// On SIGTERM, how long in-flight requests may take before connections are cut.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(60),
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            write: Duration::from_secs(30),
            tls_handshake: Duration::from_secs(10),
            drain: Duration::from_secs(30),
        }
    }
}

/// TLS 1.3 settings. With both files set, every listener speaks TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Allow plaintext on non-loopback addresses; needs `--insecure` as well.
    pub allow_plaintext_off_loopback: bool,
}

/// `[gateway]`: how runtime processes reach the daemon and how their calls are queued.
/// The socket path itself is the top-level `gateway_socket` key (and `--gateway-socket`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Group owning the Unix socket (name or numeric id); the socket's mode is 0660.
    pub socket_group: Option<String>,
    /// Also accept runtimes on this TCP address; loopback addresses only.
    pub tcp_listen: Option<SocketAddr>,
    /// Time allowed for `hello` after connecting, and for `register_ack` after `register`.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Requests that may wait per pool when every connection is busy (503 beyond it).
    pub queue_length: usize,
    /// How long a queued request waits for a connection (503 `runtime-busy` after it).
    #[serde(with = "humantime_serde")]
    pub queue_wait: Duration,
    /// An idle runtime connection is pinged after this long without traffic.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// A pinged connection that sends nothing for this long is dropped.
    #[serde(with = "humantime_serde")]
    pub pong_timeout: Duration,
    /// Largest frame payload accepted from a runtime, in bytes.
    pub max_frame_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            socket_group: None,
            tcp_listen: None,
            handshake_timeout: runtime_protocol::DEFAULT_HANDSHAKE_TIMEOUT,
            queue_length: 128,
            queue_wait: Duration::from_secs(5),
            keepalive_interval: runtime_protocol::DEFAULT_KEEPALIVE_INTERVAL,
            pong_timeout: runtime_protocol::PONG_TIMEOUT,
            max_frame_bytes: runtime_protocol::DEFAULT_MAX_FRAME_LEN,
        }
    }
}

/// `[signing]`: the Ed25519 key runtimes may ask the daemon to sign with. The private key
/// never leaves the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// PKCS#8 PEM private key (`agtpd keygen` writes one); without it nothing is signed.
    pub key_file: Option<PathBuf>,
    /// The `kid` sent with each signature; by default the key's RFC 7638 thumbprint.
    pub key_id: Option<String>,
}

/// Why a configuration was refused. Exit code 78.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or parsed, a key is unknown or has the wrong type.
    #[error("{0}")]
    Load(Box<figment::Error>),
    /// The named config file does not exist.
    #[error("config file `{0}`: not found")]
    Missing(PathBuf),
    /// The verb catalog, an agent document or an endpoint file was refused; the
    /// message names the file.
    #[error("{0}")]
    Site(String),
    /// A key has a value the daemon cannot use.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The offending key, dotted.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

pub(crate) fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Loads and validates the configuration for `cli`: defaults, then the file, then the
/// environment, then the flags.
pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
    let config: Config = layers(cli.config.as_deref(), cli.overrides())?
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))?;
    config.validate(cli.insecure)?;
    Ok(config)
}

/// The `[admin]` table alone, through the same layers as [`load`] (file `config`, else
/// the default file when it exists, then `AGTPD_*`), for `agtpd health` and `agtpd status`.
pub fn load_admin(config: Option<&Path>) -> Result<crate::admin::AdminConfig, ConfigError> {
    layers(config, Overrides::default())?
        .extract_inner("admin")
        .map_err(|e| ConfigError::Load(Box::new(e)))
}

/// Defaults < file < `AGTPD_*` environment < flags.
fn layers(config: Option<&Path>, flags: Overrides) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match config {
        Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_owned())),
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_PATH));
        }
        None => {}
    }
    Ok(figment
        .merge(Env::prefixed("AGTPD_").split("__"))
        .merge(Serialized::defaults(flags)))
}

impl Config {
    /// Checks every value, including the TLS files. `insecure` is the `--insecure` flag.
    pub fn validate(&self, insecure: bool) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(invalid("listen", "at least one address is required"));
        }
        if self.server_id.is_empty() || !self.server_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "server_id",
                "must be non-empty visible ASCII without spaces",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| invalid("log_level", e.to_string()))?;
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        self.validate_limits()?;
        self.validate_timeouts()?;
        crate::modules::check(self)?;
        crate::tls::acceptor(&self.tls)?;
        self.validate_gateway()?;
        crate::gateway::Signer::load(&self.signing)?;
        crate::supervisor::validate(&self.runtime)?;
        crate::admin::validate(&self.admin)?;
        self.validate_plaintext(insecure)
    }

    fn validate_gateway(&self) -> Result<(), ConfigError> {
        let g = &self.gateway;
        if self.gateway_socket.as_os_str().is_empty() {
            return Err(invalid("gateway_socket", "must not be empty"));
        }
        if let Some(addr) = g.tcp_listen.filter(|a| !a.ip().is_loopback()) {
            return Err(invalid(
                "gateway.tcp_listen",
                format!(
                    "{addr} is not a loopback address; the gateway carries authenticated \
                     calls and is never exposed beyond this host"
                ),
            ));
        }
        if let Some(group) = &g.socket_group {
            crate::gateway::resolve_group(group).map_err(|m| invalid("gateway.socket_group", m))?;
        }
        let durations = [
            ("gateway.handshake_timeout", g.handshake_timeout),
            ("gateway.queue_wait", g.queue_wait),
            ("gateway.keepalive_interval", g.keepalive_interval),
            ("gateway.pong_timeout", g.pong_timeout),
        ];
        if let Some((key, _)) = durations.into_iter().find(|(_, d)| d.is_zero()) {
            return Err(invalid(key, "must be greater than zero"));
        }
        if !(1024..=u32::MAX as usize).contains(&g.max_frame_bytes) {
            return Err(invalid(
                "gateway.max_frame_bytes",
                "must be between 1024 and 4294967295",
            ));
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if l.max_request_line < 16 {
            return Err(invalid(
                "limits.max_request_line",
                "must be at least 16 bytes",
            ));
        }
        if l.max_header_bytes < 2 || l.max_headers == 0 {
            return Err(invalid(
                "limits",
                "max_header_bytes and max_headers must allow one header",
            ));
        }
        if usize::try_from(l.max_body).is_err() {
            return Err(invalid(
                "limits.max_body",
                "does not fit in memory on this platform",
            ));
        }
        Ok(())
    }

    fn validate_timeouts(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        let all = [
            ("timeouts.idle", t.idle),
            ("timeouts.header", t.header),
            ("timeouts.body", t.body),
            ("timeouts.write", t.write),
            ("timeouts.tls_handshake", t.tls_handshake),
        ];
        match all.into_iter().find(|(_, d)| d.is_zero()) {
            Some((key, _)) => Err(invalid(key, "must be greater than zero")),
            None => Ok(()),
        }
    }

    fn validate_plaintext(&self, insecure: bool) -> Result<(), ConfigError> {
        if self.tls.cert_file.is_some() {
            return Ok(());
        }
        let Some(public) = self.listen.iter().find(|a| !a.ip().is_loopback()) else {
            return Ok(());
        };
        match (self.tls.allow_plaintext_off_loopback, insecure) {
            (true, true) => Ok(()),
            (true, false) => Err(invalid(
                "tls.allow_plaintext_off_loopback",
                format!(
                    "plaintext on non-loopback address {public} also needs the --insecure flag"
                ),
            )),
            (false, _) => Err(invalid(
                "listen",
                format!(
                    "{public} is not a loopback address and no TLS certificate is configured; \
                     set tls.cert_file and tls.key_file, or allow plaintext with \
                     tls.allow_plaintext_off_loopback = true plus --insecure"
                ),
            )),
        }
    }
}

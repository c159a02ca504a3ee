//! The daemon's configuration: built-in defaults < TOML file < `AGTPD_*` environment <
//! flags, as one [`Config`] that lists the sections each subsystem owns.
//!
//! Loading has no side effects beyond reading the files the configuration names, rejects
//! unknown keys at every level, and validates everything `--check-config` promises. Each
//! section validates itself and names its own restart-only keys ([`Config::pin`]), so a
//! reload has one source of truth for what needs a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use agtp_core::Limits;
use agtp_site::policy::Policies;
use agtp_site::{ManifestInfo, SiteConfig};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::admin::config::AdminConfig;
use crate::error::{invalid, ConfigError};
use crate::gateway::config::GatewayConfig;
use crate::logging::LogFormat;
use crate::modules::ModulesConfig;
use crate::proxy_protocol::ProxyProtocolConfig;
use crate::restart::Pinned;
use crate::signing::SigningConfig;
use crate::supervisor::config::RuntimeConfig;
use crate::telemetry::TracingConfig;
use crate::timeouts::Timeouts;
use crate::tls::TlsConfig;

/// Read when no configuration file is named and this one exists.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/agtpd/agtpd.toml";

/// The whole daemon configuration. The file's top-level keys stay flat (`listen`,
/// `agents_dir`, ...) so existing files keep loading; each table is one subsystem's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses to listen on. Restart-only.
    pub listen: Vec<SocketAddr>,
    /// The `Server-ID` header on every response.
    pub server_id: String,
    /// Log line format. Restart-only.
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `agtpd=debug,info`. Restart-only.
    pub log_level: String,
    /// Connections served at once; further ones are refused with 503. Restart-only.
    pub max_connections: usize,
    /// Parser limits.
    pub limits: Limits,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Unix socket where runtime processes connect. Restart-only.
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
    /// Restart-only.
    pub modules: ModulesConfig,
    /// A verb catalog replacing the compiled-in one.
    pub catalog_file: Option<PathBuf>,
    /// Server policies.
    pub policies: Policies,
    /// What the Server Manifest says about the operator.
    pub manifest: ManifestInfo,
    /// `[[runtime]]`: pools whose runtime processes agtpd runs.
    pub runtime: Vec<RuntimeConfig>,
    /// `[admin]`: the admin listener (health, readiness, metrics, status) and the
    /// slow-request log.
    pub admin: AdminConfig,
    /// `[proxy_protocol]`: listeners whose load balancer sends PROXY headers. Restart-only.
    pub proxy_protocol: ProxyProtocolConfig,
    /// `[tracing]`: OpenTelemetry spans by OTLP/HTTP. Restart-only.
    pub tracing: TracingConfig,
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
            admin: AdminConfig::default(),
            proxy_protocol: ProxyProtocolConfig::default(),
            tracing: TracingConfig::default(),
        }
    }
}

/// Where a configuration is read from: the file (else [`DEFAULT_CONFIG_PATH`] when it
/// exists), the environment, and the flags' layer `flags`.
#[derive(Debug, Clone)]
pub struct Source<F> {
    /// The `--config` file.
    pub file: Option<PathBuf>,
    /// The keys the flags set, as a config fragment with absent flags left out.
    pub flags: F,
    /// `--insecure`.
    pub insecure: bool,
}

/// Loads and validates the configuration from `source`: defaults, then the file, then the
/// environment, then the flags.
pub fn load<F: Serialize>(source: &Source<F>) -> Result<Config, ConfigError> {
    let config: Config = layers(source.file.as_deref(), &source.flags)?
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))?;
    config.validate(source.insecure)?;
    Ok(config)
}

/// The `[admin]` table alone, through the same layers as [`load`] without flags, for
/// `agtpd health` and `agtpd status`.
pub fn load_admin(file: Option<&Path>) -> Result<AdminConfig, ConfigError> {
    layers(file, &serde_json::Map::new())?
        .extract_inner("admin")
        .map_err(|e| ConfigError::Load(Box::new(e)))
}

/// Defaults < file < `AGTPD_*` environment < flags.
fn layers(file: Option<&Path>, flags: &impl Serialize) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match file {
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
        crate::logging::validate_level(&self.log_level)?;
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        self.limits.check().map_err(|e| invalid(e.key, e.message))?;
        self.timeouts.validate()?;
        self.modules.check(self.signing.key_file.is_some())?;
        self.tls.validate(&self.listen, insecure)?;
        self.gateway.validate(&self.gateway_socket)?;
        crate::signing::Signer::load(&self.signing)?;
        crate::supervisor::config::validate(&self.runtime)?;
        self.proxy_protocol.validate(&self.listen)?;
        self.tracing.validate()?;
        self.admin.validate()
    }

    /// The site's sources.
    pub fn site(&self) -> SiteConfig<'_> {
        SiteConfig {
            catalog_file: self.catalog_file.as_deref(),
            agents_dir: self.agents_dir.as_deref(),
            endpoints_dir: self.endpoints_dir.as_deref(),
            policies: &self.policies,
            manifest: &self.manifest,
        }
    }

    /// Pins every restart-only key of `self`, a configuration read on SIGHUP, to its value
    /// in `running`; returns the keys that changed. What is left differs from `running`
    /// only in what a reload applies.
    pub(crate) fn pin(&mut self, running: &Config) -> Pinned {
        let mut pinned = Pinned::default();
        pinned.keep("listen", &mut self.listen, &running.listen);
        pinned.keep(
            "max_connections",
            &mut self.max_connections,
            &running.max_connections,
        );
        pinned.keep("log_format", &mut self.log_format, &running.log_format);
        pinned.keep("log_level", &mut self.log_level, &running.log_level);
        pinned.keep(
            "gateway_socket",
            &mut self.gateway_socket,
            &running.gateway_socket,
        );
        pinned.keep("modules", &mut self.modules, &running.modules);
        self.tls.pin(&running.tls, &mut pinned);
        self.gateway.pin(&running.gateway, &mut pinned);
        crate::supervisor::config::pin(&mut self.runtime, &running.runtime, &mut pinned);
        self.admin.pin(&running.admin, &mut pinned);
        self.proxy_protocol
            .pin(&running.proxy_protocol, &mut pinned);
        self.tracing.pin(&running.tracing, &mut pinned);
        pinned
    }

    /// The top-level keys whose values differ between `self` and `other`, for the log
    /// line of a reload.
    pub(crate) fn changed_keys(&self, other: &Config) -> Vec<String> {
        let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
            (serde_json::to_value(self), serde_json::to_value(other))
        else {
            return Vec::new();
        };
        a.iter()
            .filter(|(key, value)| b.get(key.as_str()) != Some(value))
            .map(|(key, _)| key.clone())
            .collect()
    }
}

//! What a connection needs from the configuration, built once per (re)load and shared
//! behind an `Arc`. A reload swaps the whole value; connections keep the one they
//! started with.

use std::sync::Arc;
use std::time::Duration;

use agtp_core::{Headers, Limits, Response};
use agtp_site::endpoints::HandlerBinding;
use agtp_site::{ManifestContext, Site};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::error::ConfigError;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::timeouts::Timeouts;

/// The reloadable part of the configuration, ready to use.
pub(crate) struct Settings {
    pub(crate) server_id: String,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) site: Site,
    /// Not reloaded with the rest: the same gateway for every generation of settings.
    pub(crate) gateway: Arc<Gateway>,
    /// Not reloaded either: modules are built once, at start.
    pub(crate) pipeline: Arc<Pipeline>,
    /// The daemon's one set of metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// `admin.slow_request`: requests slower than this are logged at WARN.
    pub(crate) slow_request: Option<Duration>,
}

impl Settings {
    pub(crate) fn new(
        config: &Config,
        gateway: Arc<Gateway>,
        pipeline: Arc<Pipeline>,
        metrics: Arc<Metrics>,
    ) -> Result<Settings, ConfigError> {
        Ok(Settings {
            server_id: config.server_id.clone(),
            limits: config.limits,
            timeouts: config.timeouts,
            tls: crate::tls::acceptor(&config.tls)?,
            site: load_site(config)?,
            gateway,
            pipeline,
            metrics,
            slow_request: config.admin.slow_request,
        })
    }

    /// Stamps the headers every response carries: `Server-ID`, `Response-ID` (the
    /// exchange's, from [`response_id`]), the echoed `Task-ID` and `Request-ID`, and
    /// `Connection: close` when the connection ends after this response.
    pub(crate) fn finalize(
        &self,
        response: &mut Response,
        (response_id, request): (&str, Option<&Headers>),
        close: bool,
    ) {
        let headers = &mut response.headers;
        headers.set("Server-ID", self.server_id.as_str());
        headers.set("Response-ID", response_id);
        for name in ["Task-ID", "Request-ID"] {
            match request.and_then(|h| h.get(name)) {
                Some(value) => headers.set(name, value),
                None => headers.remove(name),
            }
        }
        if close {
            headers.set("Connection", "close");
        }
    }
}

/// The site `config` names. An endpoint bound to a handler type a module serves is checked
/// by that module, which must be loaded.
fn load_site(config: &Config) -> Result<Site, ConfigError> {
    let cx = ManifestContext {
        server_id: config.server_id.clone(),
        attribution_records: config.modules.attribution_records(),
        identity_binding: "none",
    };
    let site = Site::load(config.site(), &cx)?;
    for endpoint in site.endpoints.iter() {
        let HandlerBinding::Proxy { config: table } = endpoint.handler() else {
            continue;
        };
        config
            .modules
            .check_handler(endpoint.handler().kind(), table)
            .map_err(|m| {
                let file = endpoint.source_file().display();
                crate::error::invalid("endpoints_dir", format!("endpoint file `{file}`: {m}"))
            })?;
    }
    Ok(site)
}

/// A new exchange's `Response-ID`: `resp-` and 12 random hex digits.
pub(crate) fn response_id() -> String {
    format!("resp-{:012x}", fastrand::u64(..(1 << 48)))
}

//! mod-proxy through real daemons chained on loopback (`binary`, `chain`, `failures`,
//! `tls`), and what those tests share: an origin (a daemon whose endpoint a real runtime
//! serves) and proxy daemons in front of it.

mod binary;
mod chain;
mod failures;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use agtp_core::module::{BuildContext, Module, ModuleFactory};
use agtpd::config::Config;
use agtpd::modules::ModulesConfig;
use serde_json::{json, Value};

use agtpd_harness::{ready, Endpoint, Runtime, Site, TestDaemon};

/// A daemon serving `QUERY /things` through a `misbehaving.py` runtime in `mode`, with
/// two connections (a slow call leaves one free).
pub(crate) struct Origin {
    /// Holds the site's files for as long as the origin serves them.
    _site: Site,
    pub(crate) server: TestDaemon,
    pub(crate) runtime: Runtime,
}

impl Origin {
    pub(crate) async fn start(server_id: &str, mode: &str) -> Origin {
        Origin::start_with(server_id, mode, |config| config).await
    }

    /// [`Origin::start`] with its config passed through `adjust` (TLS, say).
    pub(crate) async fn start_with(
        server_id: &str,
        mode: &str,
        adjust: impl FnOnce(Config) -> Config,
    ) -> Origin {
        let site = Site::new(&[Endpoint::query("/things")]);
        let config = adjust(Config {
            server_id: server_id.to_owned(),
            ..site.config()
        });
        let server = site.serve(config).await;
        let runtime = site.runtime(mode, &["--connections", "2"]);
        ready(&server, "default", 2).await;
        Origin {
            _site: site,
            server,
            runtime,
        }
    }

    pub(crate) fn uri(&self) -> String {
        uri(self.server.addr)
    }
}

pub(crate) fn uri(addr: SocketAddr) -> String {
    format!("agtp://{addr}")
}

/// The endpoint file of `endpoint` with its handler replaced by a proxy binding whose
/// lines (after `type`) are `handler`.
pub(crate) fn proxy_endpoint(endpoint: &Endpoint<'_>, handler: &str) -> String {
    let text = endpoint.toml();
    let (contract, _) = text
        .split_once("[endpoint.handler]")
        .expect("an endpoint file has a handler table");
    format!("{contract}[endpoint.handler]\ntype = \"proxy\"\n{handler}\n")
}

/// A proxy daemon: the test agent, the endpoint `files` (see [`proxy_endpoint`]) and the
/// proxy module configured by `table`, kept at hand for its metrics.
pub(crate) struct Edge {
    pub(crate) site: Site,
    pub(crate) server: TestDaemon,
    pub(crate) module: Arc<dyn Module>,
}

impl Edge {
    pub(crate) async fn start(server_id: &str, files: &[String], table: Value) -> Edge {
        let site = Site::new(&[]);
        for (i, file) in files.iter().enumerate() {
            let path = site.dir.path().join(format!("endpoints/proxied-{i}.toml"));
            std::fs::write(path, file).unwrap();
        }
        let cx = BuildContext {
            server_id: server_id.to_owned(),
            signer: None,
        };
        let module = mod_proxy::FACTORY.build(&table, &cx).unwrap();
        let config = edge_config(&site, server_id, table);
        let server = TestDaemon::in_process(config)
            .modules(vec![module.clone()])
            .start()
            .await;
        Edge {
            site,
            server,
            module,
        }
    }

    /// An edge whose `QUERY /things` (idempotent) goes to `upstreams`.
    pub(crate) async fn bound(server_id: &str, upstreams: &[String], handler_extra: &str) -> Edge {
        let handler = format!("upstreams = {}\n{handler_extra}", json!(upstreams));
        let file = proxy_endpoint(&Endpoint::query("/things"), &handler);
        Edge::start(server_id, &[file], json!({})).await
    }

    pub(crate) fn uri(&self) -> String {
        uri(self.server.addr)
    }

    /// `QUERY path` with an empty input, on a new connection.
    pub(crate) async fn query(&self, path: &str) -> agtp_core::Response {
        let mut client = self.server.client().await;
        client.exchange(agtpd_harness::query(path, "{}")).await
    }

    /// The value of the module's metric `name` with `labels` (all of them).
    pub(crate) fn metric(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let samples = self.module.metrics();
        let found = samples.iter().find(|m| {
            m.name == name
                && m.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| m.labels.iter().any(|(mk, mv)| mk == k && mv == v))
        });
        match found {
            Some(metric) => metric.value,
            None => panic!("no metric {name} {labels:?} in {samples:#?}"),
        }
    }
}

/// The site's config with the proxy module loaded and configured by `table`.
pub(crate) fn edge_config(site: &Site, server_id: &str, table: Value) -> Config {
    let mut modules = ModulesConfig {
        load: vec!["proxy".to_owned()],
        ..ModulesConfig::default()
    };
    modules.tables.insert("proxy".to_owned(), table);
    Config {
        server_id: server_id.to_owned(),
        modules,
        ..site.config()
    }
}

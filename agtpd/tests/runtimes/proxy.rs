//! What the proxy tests share: an origin (a daemon whose endpoint a real runtime serves),
//! and proxy daemons in front of it, chained on loopback.

use std::net::SocketAddr;
use std::sync::Arc;

use agtp_core::module::{BuildContext, Module, ModuleFactory};
use agtpd::config::{Config, ModulesConfig};
use serde_json::{json, Value};

use super::{ready, Endpoint, Runtime, Site};
use crate::support::TestServer;

/// A daemon serving `QUERY /things` through a `misbehaving.py` runtime in `mode`, with
/// two connections (a slow call leaves one free).
pub struct Origin {
    pub site: Site,
    pub server: TestServer,
    pub runtime: Runtime,
}

impl Origin {
    pub async fn start(server_id: &str, mode: &str) -> Origin {
        Origin::start_with(server_id, mode, |config| config).await
    }

    /// [`Origin::start`] with its config passed through `adjust` (TLS, say).
    pub async fn start_with(
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
            site,
            server,
            runtime,
        }
    }

    pub fn uri(&self) -> String {
        uri(self.server.addr)
    }

    /// `QUERY path` with an empty input, on a new connection.
    pub async fn query(&self, path: &str) -> agtp_core::Response {
        let mut client = self.server.client().await;
        client.exchange(super::query(path, "{}")).await
    }
}

pub fn uri(addr: SocketAddr) -> String {
    format!("agtp://{addr}")
}

/// The endpoint file of `endpoint` with its handler replaced by a proxy binding whose
/// lines (after `type`) are `handler`.
pub fn proxy_endpoint(endpoint: &Endpoint<'_>, handler: &str) -> String {
    let text = endpoint.toml();
    let (contract, _) = text
        .split_once("[endpoint.handler]")
        .expect("an endpoint file has a handler table");
    format!("{contract}[endpoint.handler]\ntype = \"proxy\"\n{handler}\n")
}

/// A proxy daemon: the test agent, the endpoint `files` (see [`proxy_endpoint`]) and the
/// proxy module configured by `table`, kept at hand for its metrics.
pub struct Edge {
    pub site: Site,
    pub server: TestServer,
    pub module: Arc<dyn Module>,
}

impl Edge {
    pub async fn start(server_id: &str, files: &[String], table: Value) -> Edge {
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
        let server = TestServer::start_with_modules(config, vec![module.clone()]).await;
        Edge {
            site,
            server,
            module,
        }
    }

    /// An edge whose `QUERY /things` (idempotent) goes to `upstreams`.
    pub async fn bound(server_id: &str, upstreams: &[String], handler_extra: &str) -> Edge {
        let handler = format!("upstreams = {}\n{handler_extra}", json!(upstreams));
        let file = proxy_endpoint(&Endpoint::query("/things"), &handler);
        Edge::start(server_id, &[file], json!({})).await
    }

    pub fn uri(&self) -> String {
        uri(self.server.addr)
    }

    /// `QUERY path` with an empty input, on a new connection.
    pub async fn query(&self, path: &str) -> agtp_core::Response {
        let mut client = self.server.client().await;
        client.exchange(super::query(path, "{}")).await
    }

    /// The value of the module's metric `name` with `labels` (all of them).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
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
pub fn edge_config(site: &Site, server_id: &str, table: Value) -> Config {
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

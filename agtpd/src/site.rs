//! Everything the gates consult, loaded together so a reload swaps it atomically: the
//! verb catalog, the hosted agents, the endpoint table and the policy, plus the
//! documents derived from them (rendered once per load, not per request).

use std::collections::BTreeSet;

use agtp_core::{Response, Status};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::agents::{Agent, AgentDirectory};
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};
use crate::endpoints::{EndpointTable, HandlerBinding};
use crate::policy::Policy;

pub(crate) struct Site {
    pub(crate) catalog: Catalog,
    pub(crate) agents: AgentDirectory,
    pub(crate) endpoints: EndpointTable,
    pub(crate) policy: Policy,
    manifest: Bytes,
    methods: Bytes,
    served: Vec<String>,
    served_methods: BTreeSet<String>,
}

impl Site {
    /// Loads the catalog, agents and endpoints `config` names. Reads files, nothing else.
    pub(crate) fn load(config: &Config) -> Result<Site, ConfigError> {
        let catalog = match &config.catalog_file {
            Some(path) => Catalog::from_file(path).map_err(|e| ConfigError::Site(e.to_string()))?,
            None => Catalog::embedded(),
        };
        let agents = match &config.agents_dir {
            Some(dir) => AgentDirectory::load(dir).map_err(|e| ConfigError::Site(e.to_string()))?,
            None => AgentDirectory::empty(),
        };
        let endpoints = match &config.endpoints_dir {
            Some(dir) => EndpointTable::load_dir(dir, &catalog)
                .map_err(|e| ConfigError::Site(e.to_string()))?,
            None => EndpointTable::empty(),
        };
        // Bindings a module serves are checked by that module, which must be loaded.
        for endpoint in endpoints.iter() {
            let binding = endpoint.handler();
            let table = match binding {
                HandlerBinding::RegisteredFunction { .. } => continue,
                HandlerBinding::Proxy { config } => config,
            };
            crate::modules::check_handler(binding.kind(), table, &config.modules.load).map_err(
                |m| {
                    let file = endpoint.source_file().display();
                    ConfigError::Site(format!("endpoint file `{file}`: {m}"))
                },
            )?;
        }
        let policy = Policy::new(&config.policies, &catalog)?;
        let mut site = Site {
            catalog,
            agents,
            endpoints,
            policy,
            manifest: Bytes::new(),
            methods: Bytes::new(),
            served: Vec::new(),
            served_methods: BTreeSet::new(),
        };
        site.served = site
            .endpoints
            .iter()
            .map(|e| format!("{} {}", e.method(), e.path()))
            .chain(crate::manifest::BUILT_INS.iter().map(|s| (*s).to_owned()))
            .collect();
        site.served_methods = site
            .endpoints
            .iter()
            .map(|e| e.method().to_owned())
            .collect();
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let manifest = crate::manifest::server_manifest(&site, config, &now);
        site.manifest = Bytes::from(manifest.to_string());
        site.methods = Bytes::from(json!({ "methods": site.method_list() }).to_string());
        Ok(site)
    }

    /// `{method, path, description}` for every endpoint, built-ins included.
    pub(crate) fn method_list(&self) -> Vec<Value> {
        let mut list: Vec<Value> = self.endpoints.iter().map(|e| e.summary()).collect();
        list.extend(crate::manifest::built_in_summaries());
        list
    }

    /// The Server Manifest, for a target-less DISCOVER.
    pub(crate) fn manifest(&self) -> Response {
        let mut response = json_response(MANIFEST_TYPE, self.manifest.clone());
        response
            .headers
            .append("X-AGTP-Document-Type", "agtp.server.manifest");
        response
    }

    /// The endpoint list, for `DISCOVER /methods`.
    pub(crate) fn methods(&self) -> Response {
        json_response(DISCOVER_TYPE, self.methods.clone())
    }

    /// An agent's index, for DISCOVER addressed to an agent.
    pub(crate) fn agent_index(&self, agent: &Agent) -> Response {
        let index = crate::manifest::agent_index(self, agent).to_string();
        json_response(DISCOVER_TYPE, Bytes::from(index))
    }

    /// `"METHOD /path"` for everything this server serves.
    pub(crate) fn served(&self) -> Vec<String> {
        self.served.clone()
    }

    /// Whether any endpoint file serves `method`.
    pub(crate) fn serves_method(&self, method: &str) -> bool {
        self.served_methods.contains(method)
    }
}

/// The protocol's media type of the Server Manifest.
const MANIFEST_TYPE: &str = "application/vnd.agtp.manifest+json";

/// The protocol's media type of DISCOVER's other answers (an embedded verb's success body).
const DISCOVER_TYPE: &str = "application/vnd.agtp.discover+json";

fn json_response(content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Status::OK);
    response.headers.append("Content-Type", content_type);
    response.body = body;
    response
}

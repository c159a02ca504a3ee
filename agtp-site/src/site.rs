//! Everything the gates consult, loaded together so a reload swaps it atomically: the
//! verb catalog, the hosted agents, the endpoint table and the policy, plus the
//! documents derived from them (rendered once per load, not per request).

use std::collections::BTreeSet;
use std::path::Path;

use agtp_core::{Response, Status};
use bytes::Bytes;
use serde_json::json;

use crate::agents::{Agent, AgentDirectory, AgentLoadError};
use crate::catalog::{Catalog, CatalogError};
use crate::endpoints::{EndpointLoadError, EndpointTable};
use crate::manifest::{self, Hosted, ManifestContext, ManifestInfo};
use crate::policy::{Policies, Policy, PolicyError};

/// Where a site comes from: the daemon's keys of the same names.
#[derive(Debug, Clone, Copy)]
pub struct SiteConfig<'a> {
    /// `catalog_file`: a catalog replacing the compiled-in one.
    pub catalog_file: Option<&'a Path>,
    /// `agents_dir`: the agent documents.
    pub agents_dir: Option<&'a Path>,
    /// `endpoints_dir`: the endpoint files.
    pub endpoints_dir: Option<&'a Path>,
    /// `[policies]`.
    pub policies: &'a Policies,
    /// `[manifest]`.
    pub manifest: &'a ManifestInfo,
}

/// Why a site did not load; each message names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The catalog file.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An agent document.
    #[error(transparent)]
    Agents(#[from] AgentLoadError),
    /// An endpoint file.
    #[error(transparent)]
    Endpoints(#[from] EndpointLoadError),
    /// A `[policies]` value.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// A loaded site.
pub struct Site {
    /// The verb catalog in force.
    pub catalog: Catalog,
    /// The hosted agents.
    pub agents: AgentDirectory,
    /// The endpoints.
    pub endpoints: EndpointTable,
    /// The verb policy and the anonymous-discovery switch.
    pub policy: Policy,
    manifest: Bytes,
    methods: Bytes,
    served: Vec<String>,
    served_methods: BTreeSet<String>,
}

impl Site {
    /// Loads the catalog, agents and endpoints `config` names. Reads files, nothing else.
    /// `cx` is what the Server Manifest says about the server around the site.
    pub fn load(config: SiteConfig<'_>, cx: &ManifestContext) -> Result<Site, SiteError> {
        let catalog = match config.catalog_file {
            Some(path) => Catalog::from_file(path)?,
            None => Catalog::embedded(),
        };
        let agents = match config.agents_dir {
            Some(dir) => AgentDirectory::load(dir)?,
            None => AgentDirectory::empty(),
        };
        let endpoints = match config.endpoints_dir {
            Some(dir) => EndpointTable::load_dir(dir, &catalog)?,
            None => EndpointTable::empty(),
        };
        let policy = Policy::new(config.policies, &catalog)?;
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
            .chain(manifest::BUILT_INS.iter().map(|s| (*s).to_owned()))
            .collect();
        site.served_methods = site
            .endpoints
            .iter()
            .map(|e| e.method().to_owned())
            .collect();
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let hosted = Hosted {
            catalog: &site.catalog,
            agents: &site.agents,
            endpoints: &site.endpoints,
            policy: &site.policy,
        };
        let manifest = manifest::server_manifest(hosted, config.manifest, cx, &now);
        site.manifest = Bytes::from(manifest.to_string());
        let methods = json!({ "methods": manifest::method_list(&site.endpoints) });
        site.methods = Bytes::from(methods.to_string());
        Ok(site)
    }

    /// The Server Manifest, for a target-less DISCOVER.
    pub fn manifest(&self) -> Response {
        let mut response = json_response(MANIFEST_TYPE, self.manifest.clone());
        response
            .headers
            .append("X-AGTP-Document-Type", "agtp.server.manifest");
        response
    }

    /// The endpoint list, for `DISCOVER /methods`.
    pub fn methods(&self) -> Response {
        json_response(DISCOVER_TYPE, self.methods.clone())
    }

    /// An agent's index, for DISCOVER addressed to an agent.
    pub fn agent_index(&self, agent: &Agent) -> Response {
        let index = manifest::agent_index(&self.endpoints, agent).to_string();
        json_response(DISCOVER_TYPE, Bytes::from(index))
    }

    /// `"METHOD /path"` for everything this server serves.
    pub fn served(&self) -> Vec<String> {
        self.served.clone()
    }

    /// Whether any endpoint file serves `method`.
    pub fn serves_method(&self, method: &str) -> bool {
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

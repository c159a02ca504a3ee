//! The documents agtpd serves about itself: the Server Manifest (target-less DISCOVER),
//! the endpoint list (`DISCOVER /methods`) and an agent's index (DISCOVER addressed to an
//! agent). Each reflects what is actually in force: loaded endpoints, the catalog, the
//! policy.

use serde_json::{json, Value};

use crate::agents::Agent;
use crate::config::{AgentDisclosure, Config};
use crate::site::Site;

/// The embedded methods the daemon answers itself, as `"METHOD /path"`.
pub(crate) const BUILT_INS: &[&str] = &["DISCOVER /", "DISCOVER /methods", "DESCRIBE /"];

/// The built-ins as `DISCOVER /methods` entries.
pub(crate) fn built_in_summaries() -> Vec<Value> {
    vec![
        json!({"method": "DISCOVER", "path": "/", "description": "the Server Manifest, or an agent's index when an agent is addressed"}),
        json!({"method": "DISCOVER", "path": "/methods", "description": "every endpoint this server serves"}),
        json!({"method": "DESCRIBE", "path": "/", "description": "the addressed agent's document (JSON, YAML or HTML by Accept)"}),
    ]
}

/// The Server Manifest.
pub(crate) fn server_manifest(site: &Site, config: &Config) -> Value {
    let info = &config.manifest;
    let mut server = json!({
        "server_id": config.server_id,
        "operator": info.operator,
        "contact": info.contact,
        "supported_features": ["persistent-connections", "pipelining", "tls-1.3"],
    });
    if let Some(domain) = &info.domain {
        server["domain"] = json!(domain);
    }
    let embedded: Vec<Value> = site
        .catalog
        .embedded_verbs()
        .map(|verb| {
            json!({
                "method": verb,
                "categories": site.catalog.categories(verb).unwrap_or_default(),
                "served": site.serves_method(verb) || BUILT_INS.iter().any(|b| b.starts_with(&format!("{verb} "))),
            })
        })
        .collect();
    let custom: Vec<Value> = site
        .endpoints
        .iter()
        .map(|e| e.method())
        .filter(|m| !site.catalog.is_embedded(m))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|m| json!({"method": m, "categories": site.catalog.categories(m).unwrap_or_default()}))
        .collect();
    let mut manifest = json!({
        "agtp_version": "1.0",
        "agtp_api_version": "1.0",
        "document_version": "1",
        "catalog_version": site.catalog.version(),
        "server": server,
        "embedded_methods": embedded,
        "endpoints": site.endpoints.iter().map(|e| e.manifest_entry()).collect::<Vec<_>>(),
        "agent_disclosure": info.agent_disclosure,
        "policies": site.policy.manifest_block(),
    });
    if !custom.is_empty() {
        manifest["custom_methods"] = json!(custom);
    }
    match info.agent_disclosure {
        AgentDisclosure::Public => {
            manifest["hosted_agents"] = site
                .agents
                .iter()
                .map(|a| json!({"agent_id": a.id(), "name": a.name(), "methods_count": site.endpoints.len()}))
                .collect();
        }
        AgentDisclosure::Limited => manifest["hosted_agents_count"] = json!(site.agents.len()),
        AgentDisclosure::Private => {}
    }
    manifest
}

/// What DISCOVER tells about one agent: who it is, and what can be asked of it.
pub(crate) fn agent_index(site: &Site, agent: &Agent) -> Value {
    let document = agent.document();
    json!({
        "agent_id": agent.id(),
        "name": agent.name(),
        "description": document.get("description"),
        "status": document.get("status"),
        "skills": document.get("skills"),
        "endpoints": site.method_list(),
    })
}

//! The documents agtpd serves about itself: the Server Manifest (target-less DISCOVER),
//! the endpoint list (`DISCOVER /methods`) and an agent's index (DISCOVER addressed to an
//! agent). Each reflects what is actually in force: loaded endpoints, the catalog, the
//! policy.
//!
//! The manifest has the reference's shape field by field (its schema refuses unknown
//! top-level keys), so the reference's clients read it; what agtpd adds sits inside
//! entries, beside the reference's fields (`categories` and `served` on method entries,
//! `function` on a registered function's `handler`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::agents::Agent;
use crate::agents::AgentDirectory;
use crate::catalog::Catalog;
use crate::endpoints::Endpoint;
use crate::endpoints::EndpointTable;
use crate::policy::Policy;

/// The embedded methods the daemon answers itself, as `"METHOD /path"`.
pub const BUILT_INS: &[&str] = &["DISCOVER /", "DISCOVER /methods", "DESCRIBE /"];

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

/// What the manifest says about the server that the site itself does not know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestContext {
    /// The `Server-ID`.
    pub server_id: String,
    /// Whether every exchange gets a signed audit record.
    pub attribution_records: bool,
    /// How agents prove their identity: `none`, `optional` or `required` (client
    /// certificates on the AGTP listeners).
    pub identity_binding: &'static str,
}

/// The manifest's schema version (`document_version`).
const DOCUMENT_VERSION: &str = "v2";

/// The AGIS semantic class every AGTP method belongs to.
const SEMANTIC_CLASS: &str = "action-intent";

/// What the core draft says of each embedded verb: whether it modifies state, whether it
/// is idempotent, and its primary error statuses; then a one-line description.
const EMBEDDED_TRAITS: &[(&str, bool, bool, &[u16], &str)] = &[
    (
        "CONFIRM",
        true,
        true,
        &[400, 404],
        "attest to an earlier action",
    ),
    (
        "DELEGATE",
        true,
        false,
        &[403, 451, 551],
        "hand a task to another agent",
    ),
    (
        "DESCRIBE",
        false,
        true,
        &[404, 422],
        "the addressed agent's document",
    ),
    (
        "DISCOVER",
        false,
        true,
        &[404],
        "what this server or an agent offers",
    ),
    (
        "ESCALATE",
        true,
        true,
        &[404],
        "defer to a person or a higher authority",
    ),
    (
        "EXECUTE",
        true,
        false,
        &[400, 403, 409, 422],
        "carry out a prepared action",
    ),
    (
        "NOTIFY",
        false,
        false,
        &[400, 404],
        "push information to a recipient",
    ),
    (
        "PLAN",
        false,
        true,
        &[400, 422],
        "lay out the steps towards a goal",
    ),
    (
        "PROPOSE",
        true,
        false,
        &[400, 403, 460],
        "propose a new endpoint",
    ),
    (
        "QUERY",
        false,
        true,
        &[404, 422],
        "ask for information matching a need",
    ),
    ("SUMMARIZE", false, true, &[400, 422], "condense content"),
    (
        "SUSPEND",
        true,
        false,
        &[404, 408],
        "pause a session's work",
    ),
];

/// The built-ins as `DISCOVER /methods` entries.
fn built_in_summaries() -> Vec<Value> {
    vec![
        json!({"method": "DISCOVER", "path": "/", "description": "the Server Manifest, or an agent's index when an agent is addressed"}),
        json!({"method": "DISCOVER", "path": "/methods", "description": "every endpoint this server serves"}),
        json!({"method": "DESCRIBE", "path": "/", "description": "the addressed agent's document (JSON, YAML or HTML by Accept)"}),
    ]
}

/// What a site hosts, as the manifest documents it.
#[derive(Debug, Clone, Copy)]
pub struct Hosted<'a> {
    /// The verb catalog in force.
    pub catalog: &'a Catalog,
    /// The hosted agents.
    pub agents: &'a AgentDirectory,
    /// The endpoints.
    pub endpoints: &'a EndpointTable,
    /// The verb policy.
    pub policy: &'a Policy,
}

/// The Server Manifest. `now` is the load time, RFC 3339 in UTC: the manifest is rendered
/// once per load, so that is when it was last updated.
pub fn server_manifest(
    site: Hosted<'_>,
    info: &ManifestInfo,
    cx: &ManifestContext,
    now: &str,
) -> Value {
    let served = served_methods(&site);
    let embedded: Vec<Value> = BTreeSet::from_iter(site.catalog.embedded_verbs())
        .into_iter()
        .map(|verb| {
            let mut entry = method_entry(&site, verb);
            entry["served"] = json!(served.contains(verb));
            entry
        })
        .collect();
    let custom: Vec<Value> = BTreeSet::from_iter(site.endpoints.iter().map(Endpoint::method))
        .into_iter()
        .filter(|m| !site.catalog.is_embedded(m))
        .map(|verb| method_entry(&site, verb))
        .collect();
    let attribution_records = cx.attribution_records;
    let posture = match (cx.identity_binding, attribution_records) {
        ("required", true) => "hardened",
        ("none", false) => "demo",
        _ => "mixed",
    };
    let scopes_required = site
        .endpoints
        .iter()
        .any(|e| !e.required_scopes().is_empty());
    let mut manifest = json!({
        "agtp_version": "1.0",
        "agtp_api_version": "1.0",
        "document_version": DOCUMENT_VERSION,
        "catalog_version": site.catalog.version(),
        "catalog_versions_supported": [site.catalog.version()],
        "server": {
            "server_id": cx.server_id,
            "operator": info.operator,
            "contact": info.contact,
            "domain": info.domain,
            "supported_features": [
                format!("embedded-methods/{}", embedded.len()),
                format!("manifest/{DOCUMENT_VERSION}"),
                "form2-server-uris",
                "persistent-connections",
                "pipelining",
                "tls-1.3",
            ],
            "issued": now,
            "updated": now,
        },
        "embedded_methods": embedded,
        "endpoints": site.endpoints.iter().map(Endpoint::manifest_entry).collect::<Vec<_>>(),
        "agent_disclosure": info.agent_disclosure,
        "hosted_agents": [],
        "security": {"identity_binding": cx.identity_binding},
        "assurance": {
            "identity_binding": cx.identity_binding,
            "attribution_records": attribution_records,
            "anonymous_discovery": site.policy.anonymous_discovery,
            "posture": posture,
        },
        "policies": site.policy.manifest_block(site.catalog, scopes_required),
    });
    if !custom.is_empty() {
        manifest["custom_methods"] = json!(custom);
    }
    match info.agent_disclosure {
        AgentDisclosure::Public => {
            manifest["hosted_agents"] = site
                .agents
                .iter()
                .map(|agent| hosted_agent(agent, &served))
                .collect();
        }
        AgentDisclosure::Limited => {
            manifest["agent_disclosure_notice"] = json!(format!(
                "{} agents are hosted here; address one by its Agent-ID to learn more",
                site.agents.len()
            ));
        }
        AgentDisclosure::Private => {
            manifest["agent_disclosure_notice"] =
                json!("this server does not disclose the agents it hosts");
        }
    }
    manifest
}

/// Every method this server answers: endpoint verbs and the built-ins.
fn served_methods<'a>(site: &Hosted<'a>) -> BTreeSet<&'a str> {
    site.endpoints
        .iter()
        .map(Endpoint::method)
        .chain(BUILT_INS.iter().filter_map(|b| b.split(' ').next()))
        .collect()
}

/// One entry of `embedded_methods` or `custom_methods`. Parameters, and for custom verbs
/// the semantic traits, come from the endpoints that serve the verb; the embedded verbs'
/// traits come from the core draft.
fn method_entry(site: &Hosted<'_>, verb: &str) -> Value {
    let endpoints: Vec<&Endpoint> = site
        .endpoints
        .iter()
        .filter(|e| e.method() == verb)
        .collect();
    let (mut required, mut optional) = (BTreeSet::new(), BTreeSet::new());
    for endpoint in &endpoints {
        let (r, o) = params(endpoint.input_schema());
        required.extend(r);
        optional.extend(o);
    }
    let optional: Vec<&str> = optional.difference(&required).copied().collect();
    let categories = site.catalog.categories(verb).unwrap_or_default();
    let mut entry = json!({
        "name": verb,
        "category": categories.first(),
        "categories": categories,
        "semantic_class": SEMANTIC_CLASS,
        "required_params": required,
        "optional_params": optional,
    });
    if let Some(&(_, modifies, idempotent, codes, description)) =
        EMBEDDED_TRAITS.iter().find(|t| t.0 == verb)
    {
        entry["state_modifying"] = json!(modifies);
        entry["idempotent"] = json!(idempotent);
        entry["error_codes"] = json!(codes);
        entry["description"] = json!(description);
        return entry;
    }
    let mut codes = vec![400, 422];
    if endpoints.iter().any(|e| !e.required_scopes().is_empty()) {
        codes.insert(0, 262);
    }
    entry["state_modifying"] = json!(endpoints
        .iter()
        .any(|e| e.semantic().impact != crate::endpoints::Impact::Informational));
    entry["idempotent"] = json!(endpoints.iter().all(|e| e.is_idempotent()));
    entry["error_codes"] = json!(codes);
    entry["description"] = json!(match endpoints.as_slice() {
        [one] => one.description().to_owned(),
        many => format!("served by {} endpoints", many.len()),
    });
    let namespaces: BTreeSet<Option<&str>> = endpoints.iter().map(|e| e.namespace()).collect();
    if let [Some(namespace)] = namespaces.into_iter().collect::<Vec<_>>().as_slice() {
        entry["namespace"] = json!(namespace);
    }
    if let Some(first) = endpoints.first() {
        entry["semantic"] = first.semantic().manifest_value();
    }
    entry
}

/// The required and optional top-level parameter names of an input schema.
fn params(schema: &Value) -> (Vec<&str>, Vec<&str>) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let optional = schema["properties"]
        .as_object()
        .map(|props| {
            props
                .keys()
                .map(String::as_str)
                .filter(|name| !required.contains(name))
                .collect()
        })
        .unwrap_or_default();
    (required, optional)
}

/// A `hosted_agents` entry: `methods_count` is how many of the methods this server
/// answers the agent may call.
fn hosted_agent(agent: &Agent, served: &BTreeSet<&str>) -> Value {
    json!({
        "agent_id": agent.id(),
        "name": agent.name(),
        "skills_summary": skills_summary(&agent.document()["skills"]),
        "methods_count": served.iter().filter(|m| agent.method_permitted(m)).count(),
    })
}

/// The first sentence of each skill, joined by `, `, cut to 140 characters.
fn skills_summary(skills: &Value) -> String {
    const MAX: usize = 140;
    let summary = skills
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|skill| skill.split(['.', '\n']).next().unwrap_or_default().trim())
        .filter(|first| !first.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if summary.chars().count() <= MAX {
        return summary;
    }
    let mut cut: String = summary.chars().take(MAX - 1).collect();
    cut.push('…');
    cut
}

/// `{method, path, description}` for every endpoint, built-ins included: the
/// `DISCOVER /methods` list.
pub fn method_list(endpoints: &EndpointTable) -> Vec<Value> {
    let mut list: Vec<Value> = endpoints.iter().map(Endpoint::summary).collect();
    list.extend(built_in_summaries());
    list
}

/// What DISCOVER tells about one agent: who it is, and what can be asked of it.
pub fn agent_index(endpoints: &EndpointTable, agent: &Agent) -> Value {
    let document = agent.document();
    json!({
        "agent_id": agent.id(),
        "name": agent.name(),
        "description": document.get("description"),
        "status": document.get("status"),
        "skills": document.get("skills"),
        "endpoints": method_list(endpoints),
    })
}

//! The agents a daemon hosts: their documents, how a request finds one, and the gates an
//! agent puts in front of a request.
//!
//! An agent is described by an agent document (`*.agent.json`, v2 shape). The directory of
//! documents is loaded once, at start-up or reload, by [`AgentDirectory::load`]; v1 documents
//! are migrated to v2 on the way in (`agents/migrate.rs`) and every document is checked
//! against our schema, `agents/agent-document.schema.json` (`agents/load.rs`).
//!
//! Layout:
//! - this file: [`Agent`], [`Lifecycle`] and [`AgentDirectory`] (lookups);
//! - `load.rs`: reading the directory, limits, [`AgentLoadError`];
//! - `migrate.rs`: the v1 → v2 conversion;
//! - `gates.rs`: [`lifecycle_error`], [`scope_error`], [`method_error`] (the wire answers);
//! - `describe.rs` and `accept.rs`: [`describe`], the DESCRIBE rendering and its `Accept`
//!   negotiation (JSON, YAML or an HTML card).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use agtp_core::{AgtpError, Response};
use serde_json::Value;

mod accept;
mod describe;
#[cfg(test)]
mod gate_tests;
mod gates;
mod load;
mod migrate;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;

pub use describe::{describe, JSON_CONTENT_TYPE};
pub(crate) use gates::scope_required;
pub use gates::{claimed_scopes, lifecycle_error, method_error, scope_error, SOFT_DENY_EXEMPT};
pub use load::{AgentLoadError, AgentProblem, AGENT_DOCUMENT_SCHEMA, MAX_DOCUMENT_BYTES};

/// An agent's lifecycle state, the document's `status`.
///
/// The schema admits exactly these four values, so no other state reaches a loaded
/// [`Agent`]; a document with any other `status` is refused at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// `active`: the agent is served.
    Active,
    /// `suspended`: recoverable; requests are answered 503 `agent-suspended`.
    Suspended,
    /// `retired`: permanent; requests are answered 410 `agent-retired`.
    Retired,
    /// `deprecated`: requests are answered 410 `agent-deprecated`, as the draft's status
    /// table says for deprecated agents.
    Deprecated,
}

impl Lifecycle {
    /// The state named by a document's `status` value.
    pub fn from_status(status: &str) -> Option<Lifecycle> {
        match status {
            "active" => Some(Lifecycle::Active),
            "suspended" => Some(Lifecycle::Suspended),
            "retired" => Some(Lifecycle::Retired),
            "deprecated" => Some(Lifecycle::Deprecated),
            _ => None,
        }
    }

    /// The `status` value, as the document spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Suspended => "suspended",
            Lifecycle::Retired => "retired",
            Lifecycle::Deprecated => "deprecated",
        }
    }

    /// Whether requests addressed to an agent in this state are served.
    pub fn serves(self) -> bool {
        match self {
            Lifecycle::Active => true,
            Lifecycle::Suspended | Lifecycle::Retired | Lifecycle::Deprecated => false,
        }
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hosted agent: its validated v2 document and the fields the daemon reads often.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    id: String,
    name: String,
    lifecycle: Lifecycle,
    principal_id: String,
    owner_id: Option<String>,
    methods: Vec<String>,
    scopes: Vec<String>,
    wildcards: bool,
    document: Value,
    source: Option<PathBuf>,
}

impl Agent {
    /// An agent from a parsed document: v1 documents are migrated, then the result is
    /// validated against our schema. No file is involved, so [`Agent::source`] is `None`.
    pub fn from_document(document: Value) -> Result<Agent, AgentProblem> {
        load::agent_from_value(document, None)
    }

    /// The canonical Agent-ID (`agent_id`, 64 lower-case hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The agent's label (`name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lifecycle state (`status`).
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// The scopes the agent declares in `requires.scopes`, the set `Authority-Scope`
    /// claims are checked against.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The verbs the agent declares in `requires.methods`.
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    /// Whether the agent takes any verb (`requires.wildcards`).
    pub fn wildcards(&self) -> bool {
        self.wildcards
    }

    /// The stable identifier of the principal the agent acts for (`principal_id`).
    pub fn principal_id(&self) -> &str {
        &self.principal_id
    }

    /// The legal owner (`owner_id`), when the document names one; an empty value counts
    /// as absent.
    pub fn owner_id(&self) -> Option<&str> {
        self.owner_id.as_deref()
    }

    /// The document, v2 shape (after migration for v1 files), as validated.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The file the document was loaded from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Whether the agent may be sent `verb`: the soft-deny rule.
    ///
    /// A verb is permitted when any of these holds, checked in this order:
    /// 1. it is a protocol primitive every reachable agent answers ([`SOFT_DENY_EXEMPT`]:
    ///    `DISCOVER`, `DESCRIBE` and the embedded mechanics);
    /// 2. the document sets `requires.wildcards: true` (the orchestrator pattern);
    /// 3. the verb is listed in `requires.methods`.
    ///
    /// Otherwise the answer is 403 `method-not-permitted-for-agent` ([`method_error`]).
    /// Verbs compare ASCII case-insensitively (the schema and the wire parser both use
    /// upper case). A server-wide refusal of wildcard agents is a server policy, not part
    /// of the document, and is left to the caller. Run the verb catalog check first: a verb
    /// the server does not know at all deserves its own answer, not this one.
    pub fn method_permitted(&self, verb: &str) -> bool {
        SOFT_DENY_EXEMPT
            .iter()
            .any(|exempt| exempt.eq_ignore_ascii_case(verb))
            || self.wildcards
            || self.methods.iter().any(|m| m.eq_ignore_ascii_case(verb))
    }

    /// [`lifecycle_error`] for this agent.
    pub fn lifecycle_error(&self) -> Option<AgtpError> {
        lifecycle_error(self)
    }

    /// [`scope_error`] for this agent and an `Authority-Scope` value.
    pub fn scope_error(&self, claimed: &str) -> Option<AgtpError> {
        scope_error(self, claimed)
    }

    /// [`method_error`] for this agent and `verb`.
    pub fn method_error(&self, verb: &str) -> Option<AgtpError> {
        method_error(self, verb)
    }

    /// [`describe`] for this agent and an `Accept` value.
    pub fn describe(&self, accept: Option<&str>) -> Response {
        describe(self, accept)
    }
}

/// The loaded agents, in file-name order, with lookups by `agent_id` and by `name`.
#[derive(Debug, Clone, Default)]
pub struct AgentDirectory {
    agents: Vec<Agent>,
    by_id: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl AgentDirectory {
    /// A directory with no agents.
    pub fn empty() -> AgentDirectory {
        AgentDirectory::default()
    }

    /// Loads every `*.agent.json` file directly inside `dir` (not in subdirectories), in
    /// file-name order. Any bad file fails the whole load; see [`AgentLoadError`].
    pub fn load(dir: &Path) -> Result<AgentDirectory, AgentLoadError> {
        load::load_dir(dir)
    }

    /// The number of agents.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether there are no agents.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The agents, in file-name order.
    pub fn iter(&self) -> impl Iterator<Item = &Agent> + '_ {
        self.agents.iter()
    }

    /// The agent whose `agent_id` is `id` (exact match: ids are lower-case hex).
    pub fn resolve(&self, id: &str) -> Option<&Agent> {
        self.by_id.get(id).map(|&i| &self.agents[i])
    }

    /// The agent addressed by `/agents/{name}`.
    ///
    /// The draft calls that segment the agent label and makes labels unique within one
    /// governance zone; our documents carry it as `name`, and the loader refuses two
    /// agents with the same `name`. An `agent_id` is accepted too and is tried first, so
    /// `/agents/{agent_id}` always reaches the agent that owns the id.
    pub fn by_name(&self, name: &str) -> Option<&Agent> {
        self.resolve(name)
            .or_else(|| self.by_name.get(name).map(|&i| &self.agents[i]))
    }

    /// Adds `agent`, unless another agent already holds its id or its name.
    fn insert(&mut self, agent: Agent) -> Result<(), Clash<'_>> {
        if let Some(&i) = self.by_id.get(agent.id()) {
            return Err(Clash::Id(&self.agents[i]));
        }
        if let Some(&i) = self.by_name.get(agent.name()) {
            return Err(Clash::Name(&self.agents[i]));
        }
        let index = self.agents.len();
        self.by_id.insert(agent.id.clone(), index);
        self.by_name.insert(agent.name.clone(), index);
        self.agents.push(agent);
        Ok(())
    }
}

/// Why [`AgentDirectory::insert`] refused an agent: the agent already holding the key.
enum Clash<'a> {
    /// Same `agent_id`.
    Id(&'a Agent),
    /// Same `name`.
    Name(&'a Agent),
}

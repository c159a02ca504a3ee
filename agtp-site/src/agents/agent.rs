//! [`Agent`], one hosted agent as the gates read it, and its [`Lifecycle`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Verbs every reachable agent answers whatever its `requires.methods` says: discovery
/// (`DISCOVER`, `DESCRIBE`) and the protocol mechanics. Soft-deny never applies to them.
pub const SOFT_DENY_EXEMPT: &[&str] = &[
    "DISCOVER", "DESCRIBE", "DELEGATE", "ESCALATE", "CONFIRM", "SUSPEND", "PROPOSE", "NOTIFY",
];

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
    pub(super) id: String,
    pub(super) name: String,
    pub(super) lifecycle: Lifecycle,
    pub(super) principal_id: String,
    pub(super) owner_id: Option<String>,
    pub(super) methods: Vec<String>,
    pub(super) scopes: Vec<String>,
    pub(super) wildcards: bool,
    pub(super) require_certificate: bool,
    pub(super) document: Value,
    pub(super) source: Option<PathBuf>,
}

impl Agent {
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

    /// Whether only a client certificate may prove this agent's identity
    /// (`policies.identity.require_certificate`).
    pub fn require_certificate(&self) -> bool {
        self.require_certificate
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
    /// Otherwise the answer is 403 `method-not-permitted-for-agent` (`method_error`).
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
}

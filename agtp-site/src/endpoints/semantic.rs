//! The semantic block every endpoint declares: what it is for, who calls it, what it
//! changes. Gates and modules read it (a cache stores only what is safe to replay); the
//! manifest publishes it.

use serde::Deserialize;

/// `[endpoint.semantic]`: all seven fields are required.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Semantic {
    /// The goal, in the calling agent's voice.
    pub intent: String,
    /// Who is expected to call the endpoint.
    pub actor: Actor,
    /// The post-condition once the call succeeds.
    pub outcome: String,
    /// The broad kind of work the endpoint does.
    pub capability: Capability,
    /// The author's confidence in the contract, from 0 to 1.
    pub confidence: f64,
    /// What a successful call changes.
    pub impact: Impact,
    /// Whether repeating a call has the effect of making it once.
    pub is_idempotent: bool,
}

impl Semantic {
    /// The block as the Server Manifest publishes it.
    pub fn manifest_value(&self) -> serde_json::Value {
        serde_json::json!({
            "intent": self.intent,
            "actor": self.actor.as_str(),
            "outcome": self.outcome,
            "capability": self.capability.as_str(),
            "confidence": self.confidence,
            "impact": self.impact.as_str(),
            "is_idempotent": self.is_idempotent,
        })
    }
}

/// Who is expected to call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// An autonomous agent.
    Agent,
    /// A person, through an agent.
    User,
    /// The system itself (schedulers, other servers).
    System,
}

impl Actor {
    /// The name as the file and the manifest spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Agent => "agent",
            Actor::User => "user",
            Actor::System => "system",
        }
    }
}

/// The broad kind of work an endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Finds what exists.
    Discovery,
    /// Commits an exchange (a booking, a purchase).
    Transaction,
    /// Changes existing state.
    Modification,
    /// Reads a known thing.
    Retrieval,
    /// Computes over data.
    Analysis,
    /// Tells someone something.
    Notification,
}

impl Capability {
    /// The name as the file and the manifest spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Discovery => "discovery",
            Capability::Transaction => "transaction",
            Capability::Modification => "modification",
            Capability::Retrieval => "retrieval",
            Capability::Analysis => "analysis",
            Capability::Notification => "notification",
        }
    }
}

/// What a successful call changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Nothing: the call only reads.
    Informational,
    /// Something that can be undone.
    Reversible,
    /// Something that cannot be undone.
    Irreversible,
}

impl Impact {
    /// The name as the file and the manifest spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Informational => "informational",
            Impact::Reversible => "reversible",
            Impact::Irreversible => "irreversible",
        }
    }
}

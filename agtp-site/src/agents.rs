//! The agents a daemon hosts: their documents, how a request finds one, and the gates an
//! agent puts in front of a request.
//!
//! An agent is described by an agent document (`*.agent.json`, v2 shape). The directory of
//! documents is loaded once, at start-up or reload, by [`AgentDirectory::load`]; v1 documents
//! are migrated to v2 on the way in (`agents/migrate.rs`) and every document is checked
//! against our schema, `agents/agent-document.schema.json` (`agents/load.rs`).
//!
//! Layout:
//! - `agent.rs`: [`Agent`] and [`Lifecycle`]; `directory.rs`: [`AgentDirectory`]
//!   (lookups, and loading a directory into it);
//! - `load.rs`: reading one document, limits, [`AgentLoadError`], [`from_document`];
//! - `migrate.rs`: the v1 → v2 conversion;
//! - `gates.rs`: [`lifecycle_error`], [`scope_error`], [`method_error`] (the wire answers);
//! - `describe.rs` and `accept.rs`: [`describe`], the DESCRIBE rendering and its `Accept`
//!   negotiation (JSON, YAML or an HTML card).

mod accept;
mod agent;
mod describe;
mod directory;
mod gates;
mod load;
mod migrate;
#[cfg(test)]
mod tests;

pub use agent::{Agent, Lifecycle, SOFT_DENY_EXEMPT};
pub use describe::{describe, JSON_CONTENT_TYPE};
pub use directory::AgentDirectory;
pub(crate) use gates::scope_required;
pub use gates::{claimed_scopes, lifecycle_error, method_error, scope_error};
pub use load::{
    from_document, AgentLoadError, AgentProblem, AGENT_DOCUMENT_SCHEMA, MAX_DOCUMENT_BYTES,
};

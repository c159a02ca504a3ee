//! Reading a directory of agent documents and checking each one before anything uses it.
//!
//! Per file: bound the size, parse JSON, migrate v1 to v2 (`migrate.rs`), validate against
//! our schema (`agent-document.schema.json`, compiled in), then lift the fields [`Agent`]
//! reads often. Per directory: `agent_id` and `name` must be unique. The first problem
//! fails the whole load, so an operator never runs with half a directory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::agent::{Agent, Lifecycle};
use super::migrate;

/// Our JSON Schema (2020-12) for a v2 agent document, as compiled in.
pub const AGENT_DOCUMENT_SCHEMA: &str = include_str!("agent-document.schema.json");

/// The largest agent document accepted, in bytes (1 MiB).
pub const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

/// The file-name suffix of an agent document.
pub(super) const SUFFIX: &str = ".agent.json";

/// Why a directory of agent documents could not be loaded. Every variant names the file
/// (or the directory) it is about.
#[derive(Debug, thiserror::Error)]
pub enum AgentLoadError {
    /// The directory could not be listed.
    #[error("agent directory `{}`: cannot read it: {error}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A document could not be read.
    #[error("agent document `{}`: cannot read it: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A document was read but is not a valid agent document.
    #[error("agent document `{}`: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: AgentProblem,
    },
    /// Two documents declare the same `agent_id`.
    #[error("agent documents `{}` and `{}` both declare agent_id `{id}`", first.display(), second.display())]
    DuplicateId {
        /// The shared id.
        id: String,
        /// The file loaded first (file-name order).
        first: PathBuf,
        /// The file that repeats the id.
        second: PathBuf,
    },
    /// Two documents declare the same `name`, so `/agents/{name}` would be ambiguous.
    #[error("agent documents `{}` and `{}` both declare name `{name}`", first.display(), second.display())]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The file loaded first (file-name order).
        first: PathBuf,
        /// The file that repeats the name.
        second: PathBuf,
    },
}

/// What is wrong with one document's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentProblem {
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Not JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// The line the parser stopped at (1-based).
        line: usize,
        /// The column the parser stopped at (1-based).
        column: usize,
        /// The parser's message, without its position.
        message: String,
    },
    /// JSON, but not what our schema allows.
    #[error(
        "schema violation at {}{}: {message}",
        if pointer.is_empty() { "the document root".to_owned() } else { format!("`{pointer}`") },
        if *migrated { " (after v1 to v2 migration)" } else { "" }
    )]
    Schema {
        /// The JSON pointer of the offending value (`""` is the whole document).
        pointer: String,
        /// The validator's message.
        message: String,
        /// Whether the document was a v1 document migrated before validation.
        migrated: bool,
    },
}

/// Reads, bounds, parses, migrates and validates one file.
pub(super) fn load_file(path: &Path) -> Result<Agent, AgentLoadError> {
    let read_error = |error| AgentLoadError::Read {
        path: path.to_path_buf(),
        error,
    };
    let invalid = |problem| AgentLoadError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let file = File::open(path).map_err(read_error)?;
    let announced = file.metadata().map_err(read_error)?.len();
    if announced > MAX_DOCUMENT_BYTES {
        return Err(invalid(AgentProblem::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        }));
    }
    // The file may grow between `metadata` and `read`: read one byte past the limit at most.
    let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(invalid(AgentProblem::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        }));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(json_problem(&e)))?;
    agent_from_value(value, Some(path.to_path_buf())).map_err(invalid)
}

/// The parser's error as an [`AgentProblem::Json`], its position split out.
fn json_problem(error: &serde_json::Error) -> AgentProblem {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    AgentProblem::Json {
        line: error.line(),
        column: error.column(),
        message,
    }
}

/// Migrates, validates and lifts one parsed document.
/// An agent from a parsed document: v1 documents are migrated, then the result is
/// validated against our schema. No file is involved, so [`Agent::source`] is `None`.
pub fn from_document(document: Value) -> Result<Agent, AgentProblem> {
    agent_from_value(document, None)
}

pub(super) fn agent_from_value(
    mut document: Value,
    source: Option<PathBuf>,
) -> Result<Agent, AgentProblem> {
    let migrated = migrate::v1_to_v2(&mut document);
    if let Some(error) = validator().iter_errors(&document).next() {
        return Err(AgentProblem::Schema {
            pointer: error.instance_path().as_str().to_owned(),
            message: error.to_string(),
            migrated,
        });
    }
    // The schema guarantees every field below exists with the right type; the fallbacks
    // only keep this code free of panics should the two ever drift apart.
    let text = |key: &str| document[key].as_str().unwrap_or_default().to_owned();
    let list = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let status = text("status");
    let lifecycle = Lifecycle::from_status(&status).ok_or_else(|| AgentProblem::Schema {
        pointer: "/status".to_owned(),
        message: format!("unknown status `{status}`"),
        migrated,
    })?;
    let owner_id = Some(text("owner_id")).filter(|owner| !owner.is_empty());
    Ok(Agent {
        id: text("agent_id"),
        name: text("name"),
        lifecycle,
        principal_id: text("principal_id"),
        owner_id,
        methods: list(&document["requires"]["methods"]),
        scopes: list(&document["requires"]["scopes"]),
        wildcards: document["requires"]["wildcards"].as_bool().unwrap_or(false),
        require_certificate: document["policies"]["identity"]["require_certificate"]
            .as_bool()
            .unwrap_or(false),
        document,
        source,
    })
}

/// Our schema, compiled once. Formats (`date-time`) are asserted, not just annotated.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // Both steps read a compiled-in file that the unit tests exercise; failing here is
        // a build defect, not bad input.
        let schema: Value = serde_json::from_str(AGENT_DOCUMENT_SCHEMA)
            .expect("the compiled-in agent document schema is JSON");
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the compiled-in agent document schema compiles")
    })
}

#[cfg(test)]
mod tests;

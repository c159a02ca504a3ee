//! [`AgentDirectory`]: the loaded agents, with lookups by id and by name, and the loading
//! of a directory of documents into it.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use super::agent::Agent;
use super::load::{AgentLoadError, SUFFIX};

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
        load_dir(dir)
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

/// Loads every `*.agent.json` file directly in `dir`, sorted by file name.
fn load_dir(dir: &Path) -> Result<AgentDirectory, AgentLoadError> {
    let read_dir_error = |error| AgentLoadError::ReadDir {
        dir: dir.to_path_buf(),
        error,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        let is_document = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.ends_with(SUFFIX) && name.len() > SUFFIX.len());
        // `is_file` follows symlinks; directories named `x.agent.json` are not documents.
        if is_document && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();

    let mut directory = AgentDirectory::empty();
    for path in paths {
        let agent = super::load::load_file(&path)?;
        let error = match directory.insert(agent) {
            Ok(()) => continue,
            Err(Clash::Id(first)) => AgentLoadError::DuplicateId {
                id: first.id().to_owned(),
                first: first.source().map(Path::to_path_buf).unwrap_or_default(),
                second: path,
            },
            Err(Clash::Name(first)) => AgentLoadError::DuplicateName {
                name: first.name().to_owned(),
                first: first.source().map(Path::to_path_buf).unwrap_or_default(),
                second: path,
            },
        };
        return Err(error);
    }
    Ok(directory)
}

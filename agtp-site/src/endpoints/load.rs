//! Reading endpoint files, and every way one can be refused.
//!
//! Loading is strict and all-or-nothing: the first broken file stops the load with an
//! error naming the file and the reason. (The reference implementation skips broken
//! files; a daemon that silently serves less than its operator declared is worse.)

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;

use super::build::build;
use super::endpoint::Endpoint;
use super::problem::EndpointProblem;
use super::spec::EndpointFile;

/// The largest endpoint file agtpd reads, in bytes.
pub const MAX_ENDPOINT_FILE_BYTES: u64 = 1024 * 1024;

/// Why the endpoint directory, or one file in it, could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EndpointLoadError {
    /// The directory itself could not be listed.
    #[error("endpoint directory `{}`: {source}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("endpoint file `{}`: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_ENDPOINT_FILE_BYTES`].
    #[error("endpoint file `{}`: larger than the limit of {limit} bytes", file.display())]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A file is not valid TOML, or does not have the endpoint file's shape (unknown or
    /// missing key, wrong type, value outside an enumeration).
    #[error("endpoint file `{}`: {}{message}", file.display(), at(*position))]
    Parse {
        /// The file.
        file: PathBuf,
        /// Line and column (1-based) where the problem starts, when known.
        position: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
    /// A file has the right shape but breaks a rule.
    #[error("endpoint file `{}`: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The broken rule.
        problem: EndpointProblem,
    },
    /// Two files declare the same method at the same path (template names aside).
    #[error("endpoint `{method} {path}` is declared twice: in `{}` and in `{}`", first.display(), second.display())]
    Duplicate {
        /// The method.
        method: String,
        /// The path, as the first file declares it.
        path: String,
        /// The file loaded first.
        first: PathBuf,
        /// The file that repeats it.
        second: PathBuf,
    },
}

fn at(position: Option<(usize, usize)>) -> String {
    match position {
        Some((line, column)) => format!("line {line}, column {column}: "),
        None => String::new(),
    }
}

impl EndpointLoadError {
    /// The file (or directory) the error is about; for a duplicate, the second file.
    pub fn file(&self) -> &Path {
        match self {
            EndpointLoadError::ReadDir { dir: file, .. }
            | EndpointLoadError::Read { file, .. }
            | EndpointLoadError::TooLarge { file, .. }
            | EndpointLoadError::Parse { file, .. }
            | EndpointLoadError::Invalid { file, .. }
            | EndpointLoadError::Duplicate { second: file, .. } => file,
        }
    }
}

impl Endpoint {
    /// Parses and validates one endpoint file's text; `source` names it in errors.
    pub fn from_toml_str(
        text: &str,
        source: &Path,
        catalog: &Catalog,
    ) -> Result<Endpoint, EndpointLoadError> {
        let file: EndpointFile =
            toml::from_str(text).map_err(|error| EndpointLoadError::Parse {
                file: source.to_owned(),
                position: error.span().map(|span| line_column(text, span.start)),
                message: one_line(error.message()),
            })?;
        build(file.endpoint, source, catalog).map_err(|problem| EndpointLoadError::Invalid {
            file: source.to_owned(),
            problem,
        })
    }
}

/// A parser message on one line (toml puts the expectation on a second line), without a
/// trailing period.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("; ").trim_end_matches('.').to_owned()
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before
        .get(line_start..)
        .map_or(0, |rest| rest.chars().count())
        + 1;
    (line, column)
}

/// The `*.toml` files directly in `dir`, sorted by name; dot-files are skipped.
pub(super) fn endpoint_files(dir: &Path) -> Result<Vec<PathBuf>, EndpointLoadError> {
    let read_dir_error = |source| EndpointLoadError::ReadDir {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".toml") || path.is_dir() {
            continue;
        }
        files.push(path);
    }
    files.sort();
    Ok(files)
}

/// Reads and validates one file, refusing it unread when it is over the size limit.
pub(super) fn load_file(file: &Path, catalog: &Catalog) -> Result<Endpoint, EndpointLoadError> {
    let read_error = |source| EndpointLoadError::Read {
        file: file.to_owned(),
        source,
    };
    let too_large = || EndpointLoadError::TooLarge {
        file: file.to_owned(),
        limit: MAX_ENDPOINT_FILE_BYTES,
    };
    let handle = fs::File::open(file).map_err(read_error)?;
    if handle.metadata().map_err(read_error)?.len() > MAX_ENDPOINT_FILE_BYTES {
        return Err(too_large());
    }
    // The file may grow between the check and the read; never read past the limit.
    let mut text = String::new();
    handle
        .take(MAX_ENDPOINT_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_ENDPOINT_FILE_BYTES {
        return Err(too_large());
    }
    Endpoint::from_toml_str(&text, file, catalog)
}

#[cfg(test)]
mod tests;

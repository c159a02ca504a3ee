//! Reading a verb catalog file (TOML) and checking it before anything uses it.
//!
//! The shape, also documented at the top of `verbs.toml`:
//! `version = "1.0.0"`, `categories = [...]`, `embedded = [...]`, a `[legacy]` table of
//! `HTTPVERB = "AGTPVERB"` and a `[verbs]` table of `VERB = ["category", ...]`. Unknown keys
//! are refused. The compiled-in file and operator files go through the same checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::table::{Catalog, MAX_VERB_LEN};

/// The catalog compiled into the daemon.
pub(super) const EMBEDDED_TOML: &str = include_str!("verbs.toml");

/// The largest catalog file accepted; the compiled-in one is about 13 KiB.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("verb catalog `{}`: cannot read it: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file was read but is not a valid catalog.
    #[error("verb catalog `{origin}`: {problem}")]
    Invalid {
        /// The file (or `<embedded>`, or the name a caller gave to a string).
        origin: String,
        /// What is wrong with it.
        problem: CatalogProblem,
    },
}

/// What is wrong with a catalog's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogProblem {
    /// Larger than the limit.
    #[error("larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    /// Not TOML, or not the catalog's shape (missing or unknown keys, wrong types).
    #[error("invalid TOML{}: {message}", line.map(|n| format!(" at line {n}")).unwrap_or_default())]
    Syntax {
        /// The line the parser stopped at, when it knows.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// `version` is blank.
    #[error("`version` is empty")]
    EmptyVersion,
    /// A category name that is not lower-case snake case.
    #[error("category `{0}` is not a name: expected lower-case ASCII letters, digits and `_`, starting with a letter")]
    BadCategory(String),
    /// A category declared twice.
    #[error("category `{0}` is declared twice")]
    DuplicateCategory(String),
    /// An empty `[verbs]` table.
    #[error("`verbs` approves no verb")]
    NoVerbs,
    /// A verb that is not 1 to [`MAX_VERB_LEN`] upper-case ASCII letters.
    #[error("`{verb}` in `{table}` is not a verb: expected 1 to {MAX_VERB_LEN} upper-case ASCII letters")]
    BadVerb {
        /// `verbs`, `embedded` or `legacy`.
        table: &'static str,
        /// The offending entry.
        verb: String,
    },
    /// A verb with an empty category list.
    #[error("verb `{0}` has no category")]
    NoCategories(String),
    /// A verb naming a category `categories` does not declare.
    #[error("verb `{verb}` names category `{category}`, which `categories` does not declare")]
    UnknownCategory {
        /// The verb.
        verb: String,
        /// The undeclared category.
        category: String,
    },
    /// A verb listing a category twice.
    #[error("verb `{verb}` lists category `{category}` twice")]
    DuplicateVerbCategory {
        /// The verb.
        verb: String,
        /// The repeated category.
        category: String,
    },
    /// An embedded verb listed twice.
    #[error("embedded verb `{0}` is listed twice")]
    DuplicateEmbedded(String),
    /// An embedded verb missing from `[verbs]`.
    #[error("embedded verb `{0}` is not an approved verb")]
    EmbeddedNotApproved(String),
    /// A legacy verb that `[verbs]` also approves.
    #[error("legacy verb `{0}` is also an approved verb")]
    LegacyApproved(String),
    /// A legacy verb whose replacement `[verbs]` does not approve.
    #[error("legacy verb `{legacy}` maps to `{replacement}`, which is not an approved verb")]
    ReplacementNotApproved {
        /// The legacy verb.
        legacy: String,
        /// Its declared replacement.
        replacement: String,
    },
}

/// The file as written; validated into a [`Catalog`] by [`check`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: String,
    categories: Vec<String>,
    embedded: Vec<String>,
    legacy: BTreeMap<String, String>,
    verbs: BTreeMap<String, Vec<String>>,
}

impl Catalog {
    /// The catalog compiled into agtpd.
    pub fn embedded() -> Catalog {
        // The compiled-in file is checked by the unit tests; failing here is a build defect,
        // not bad input.
        Catalog::from_toml_str(EMBEDDED_TOML, "<embedded>")
            .expect("the compiled-in verb catalog is valid")
    }

    /// Loads and validates an operator's catalog file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let path = path.as_ref();
        let read_error = |error| CatalogError::Read {
            path: path.to_owned(),
            error,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        // Read one byte past the limit to tell "exactly at the limit" from "over it".
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        let origin = path.display().to_string();
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(CatalogError::Invalid {
                origin,
                problem: CatalogProblem::TooLarge,
            });
        }
        Catalog::from_toml_str(&text, &origin)
    }

    /// Parses and validates a catalog held in a string; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let invalid = |problem| CatalogError::Invalid {
            origin: origin.to_owned(),
            problem,
        };
        let file: CatalogFile = toml::from_str(text).map_err(|error: toml::de::Error| {
            let line = error
                .span()
                .map(|span| text.get(..span.start).unwrap_or(text).matches('\n').count() + 1);
            invalid(CatalogProblem::Syntax {
                line,
                message: error.message().trim_end().to_owned(),
            })
        })?;
        check(file).map_err(invalid)
    }
}

/// Every rule an operator file must obey; the first violation wins.
fn check(file: CatalogFile) -> Result<Catalog, CatalogProblem> {
    if file.version.trim().is_empty() {
        return Err(CatalogProblem::EmptyVersion);
    }

    let mut rank: HashMap<&str, usize> = HashMap::new();
    for (index, category) in file.categories.iter().enumerate() {
        if !is_category_name(category) {
            return Err(CatalogProblem::BadCategory(category.clone()));
        }
        if rank.insert(category, index).is_some() {
            return Err(CatalogProblem::DuplicateCategory(category.clone()));
        }
    }

    if file.verbs.is_empty() {
        return Err(CatalogProblem::NoVerbs);
    }
    let mut verbs: HashMap<String, Vec<String>> = HashMap::with_capacity(file.verbs.len());
    for (verb, mut categories) in file.verbs {
        if !is_verb_token(&verb) {
            return Err(CatalogProblem::BadVerb {
                table: "verbs",
                verb,
            });
        }
        if categories.is_empty() {
            return Err(CatalogProblem::NoCategories(verb));
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for category in &categories {
            if !rank.contains_key(category.as_str()) {
                return Err(CatalogProblem::UnknownCategory {
                    verb,
                    category: category.clone(),
                });
            }
            if !seen.insert(category.as_str()) {
                return Err(CatalogProblem::DuplicateVerbCategory {
                    verb,
                    category: category.clone(),
                });
            }
        }
        // Canonical order: the order `categories` declares, whatever order the file used.
        categories.sort_by_key(|category| rank.get(category.as_str()).copied());
        verbs.insert(verb, categories);
    }

    let mut embedded_set: HashSet<String> = HashSet::with_capacity(file.embedded.len());
    for verb in &file.embedded {
        if !is_verb_token(verb) {
            let verb = verb.clone();
            return Err(CatalogProblem::BadVerb {
                table: "embedded",
                verb,
            });
        }
        if !verbs.contains_key(verb) {
            return Err(CatalogProblem::EmbeddedNotApproved(verb.clone()));
        }
        if !embedded_set.insert(verb.clone()) {
            return Err(CatalogProblem::DuplicateEmbedded(verb.clone()));
        }
    }

    for (legacy, replacement) in &file.legacy {
        if !is_verb_token(legacy) {
            let verb = legacy.clone();
            return Err(CatalogProblem::BadVerb {
                table: "legacy",
                verb,
            });
        }
        if verbs.contains_key(legacy) {
            return Err(CatalogProblem::LegacyApproved(legacy.clone()));
        }
        if !verbs.contains_key(replacement) {
            return Err(CatalogProblem::ReplacementNotApproved {
                legacy: legacy.clone(),
                replacement: replacement.clone(),
            });
        }
    }

    let mut sorted: Vec<String> = verbs.keys().cloned().collect();
    sorted.sort_unstable();
    Ok(Catalog {
        version: file.version,
        categories: file.categories,
        verbs,
        sorted,
        embedded: file.embedded,
        embedded_set,
        legacy: file.legacy.into_iter().collect(),
    })
}

/// 1 to [`MAX_VERB_LEN`] upper-case ASCII letters.
fn is_verb_token(verb: &str) -> bool {
    (1..=MAX_VERB_LEN).contains(&verb.len()) && verb.bytes().all(|b| b.is_ascii_uppercase())
}

/// A lower-case ASCII letter, then lower-case letters, digits or `_`.
fn is_category_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
pub(super) mod tests;

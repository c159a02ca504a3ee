//! [`Catalog`], the validated verb catalog, and its lookups; `load.rs` builds one.

use std::collections::{HashMap, HashSet};

use agtp_core::{AgtpError, Status};
use serde_json::json;

/// The longest verb a catalog may hold, in bytes. Bounding it lets the path grammar
/// normalise segments into a fixed stack buffer.
pub const MAX_VERB_LEN: usize = 32;

/// How many suggestions a 459 answer carries at most.
pub const MAX_SUGGESTIONS: usize = 3;

/// The largest edit distance at which an approved verb is still suggested.
const SUGGESTION_DISTANCE: usize = 2;

/// A validated verb catalog. Build one at start-up or reload and share it: loading parses
/// and checks the whole file, lookups are hash-map probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub(super) version: String,
    /// Declared categories, in file order.
    pub(super) categories: Vec<String>,
    /// Approved verb → its categories, in the order of `categories`.
    pub(super) verbs: HashMap<String, Vec<String>>,
    /// Approved verbs, sorted, for deterministic iteration and suggestion scans.
    pub(super) sorted: Vec<String>,
    /// Embedded verbs, in file order.
    pub(super) embedded: Vec<String>,
    pub(super) embedded_set: HashSet<String>,
    /// Legacy HTTP verb → approved replacement.
    pub(super) legacy: HashMap<String, String>,
}

impl Catalog {
    /// The catalog version (semver text, as the file declares it).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether `verb` is an approved AGTP verb. Legacy HTTP verbs are not approved.
    pub fn is_approved(&self, verb: &str) -> bool {
        self.verbs.contains_key(verb)
    }

    /// Whether `verb` is one of the protocol primitives every server answers to.
    pub fn is_embedded(&self, verb: &str) -> bool {
        self.embedded_set.contains(verb)
    }

    /// Whether `verb` is a legacy HTTP verb (`GET`, `POST`, ...).
    pub fn is_legacy(&self, verb: &str) -> bool {
        self.legacy.contains_key(verb)
    }

    /// The approved verb that replaces the legacy verb `verb`, if it is one.
    pub fn legacy_replacement(&self, verb: &str) -> Option<&str> {
        self.legacy.get(verb).map(String::as_str)
    }

    /// The categories of an approved verb; `None` for a verb the catalog does not approve.
    pub fn categories(&self, verb: &str) -> Option<&[String]> {
        self.verbs.get(verb).map(Vec::as_slice)
    }

    /// Every category the catalog declares, in file order.
    pub fn category_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.categories.iter().map(String::as_str)
    }

    /// Every approved verb, in alphabetical order.
    pub fn verbs(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.sorted.iter().map(String::as_str)
    }

    /// The embedded verbs, in file order.
    pub fn embedded_verbs(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.embedded.iter().map(String::as_str)
    }

    /// The legacy verbs and their replacements, sorted by legacy verb.
    pub fn legacy_verbs(&self) -> Vec<(&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self
            .legacy
            .iter()
            .map(|(legacy, approved)| (legacy.as_str(), approved.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs
    }

    /// Up to `max` verbs to offer instead of `verb`.
    ///
    /// A legacy verb's replacement comes first (`GET` → `FETCH`); then approved verbs within
    /// Levenshtein distance 2 of `verb`, closest first, ties in alphabetical order. The
    /// comparison ignores ASCII case, so `fethc` still suggests `FETCH`.
    pub fn suggest(&self, verb: &str, max: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if max == 0 {
            return out;
        }
        let wanted = verb.to_ascii_uppercase();
        if let Some(replacement) = self.legacy_replacement(&wanted) {
            out.push(replacement.to_owned());
        }
        // No verb is longer than MAX_VERB_LEN, so nothing longer can be within reach; this
        // also keeps the scan cheap on absurd input.
        if wanted.len() > MAX_VERB_LEN + SUGGESTION_DISTANCE {
            out.truncate(max);
            return out;
        }
        let mut near: Vec<(usize, &str)> = self
            .sorted
            .iter()
            .filter(|candidate| candidate.len().abs_diff(wanted.len()) <= SUGGESTION_DISTANCE)
            .map(|candidate| (strsim::levenshtein(&wanted, candidate), candidate.as_str()))
            .filter(|&(distance, _)| distance <= SUGGESTION_DISTANCE)
            .collect();
        // `sorted` is alphabetical and the sort is stable, so ties stay alphabetical.
        near.sort_by_key(|&(distance, _)| distance);
        for (_, candidate) in near {
            if out.len() == max {
                break;
            }
            if !out.iter().any(|already| already == candidate) {
                out.push(candidate.to_owned());
            }
        }
        out.truncate(max);
        out
    }

    /// The refusal for a verb this catalog does not approve, with up to
    /// [`MAX_SUGGESTIONS`] suggestions.
    pub fn unknown_verb(&self, verb: &str) -> UnknownVerb {
        UnknownVerb {
            verb: verb.to_owned(),
            legacy: self.is_legacy(verb),
            suggestions: self.suggest(verb, MAX_SUGGESTIONS),
        }
    }
}

/// A verb the catalog does not approve; answers 459 `method-violation`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct UnknownVerb {
    /// The verb as the request carried it.
    pub verb: String,
    /// Whether it is a legacy HTTP verb rather than an unknown one.
    pub legacy: bool,
    /// What to send instead, best first.
    pub suggestions: Vec<String>,
}

impl UnknownVerb {
    fn message(&self) -> String {
        if self.legacy {
            format!(
                "`{}` is a legacy HTTP verb, not an AGTP verb; this server does not admit it",
                self.verb
            )
        } else {
            format!("`{}` is not a verb of the AGTP catalog", self.verb)
        }
    }
}

impl From<UnknownVerb> for AgtpError {
    fn from(unknown: UnknownVerb) -> AgtpError {
        AgtpError::new(
            Status::METHOD_VIOLATION,
            "method-violation",
            unknown.message(),
        )
        .with_detail("method", unknown.verb.as_str())
        .with_detail("suggestions", json!(unknown.suggestions))
    }
}

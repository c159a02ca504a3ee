//! The AGTP path grammar behind 460 `endpoint-violation`: a path is absolute, has no
//! trailing slash and no empty segment, and carries no verb in a segment.
//!
//! A segment carries a verb when, upper-cased and with `-` and `_` removed, it equals an
//! approved verb or a legacy HTTP verb of the [`Catalog`] (`/fetch`, `/F-E-T-C-H`,
//! `/orders/get`). `{param}` segments are exempt. Casing, separators, depth and parameter
//! names are the operator's business. The check runs on every request, so it allocates
//! nothing unless it refuses: each segment is normalised into a stack buffer of
//! [`MAX_VERB_LEN`] bytes, and a segment that does not fit cannot be a verb.
//!
//! Decisions where the grammar text is silent:
//! - empty segments (`//a`, `/a//b`) are refused: they name nothing, and servers and proxies
//!   disagree about collapsing them, so `/a//b` could otherwise route differently per hop;
//! - percent-escapes are decoded before the verb check, so `/%46ETCH` is refused like
//!   `/FETCH` (the wire parser keeps paths percent-encoded);
//! - `.` and `..` segments are not special here: they contain no verb.

use agtp_core::{AgtpError, Status};

use crate::catalog::{Catalog, MAX_VERB_LEN};

/// A path the grammar refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathGrammarError {
    /// The path does not begin with `/`.
    #[error("path `{path}` must begin with `/`")]
    NotAbsolute {
        /// The refused path.
        path: String,
    },
    /// The path ends with `/` and is not the root.
    #[error("path `{path}` must not end with `/`")]
    TrailingSlash {
        /// The refused path.
        path: String,
    },
    /// Two slashes in a row.
    #[error("path `{path}` has an empty segment (`//`)")]
    EmptySegment {
        /// The refused path.
        path: String,
    },
    /// A segment that normalises to a verb.
    #[error("path segment `{segment}` is the verb `{verb}`: verbs belong in the method, not in the path")]
    VerbInSegment {
        /// The refused path.
        path: String,
        /// The segment as written.
        segment: String,
        /// The verb it normalises to.
        verb: String,
    },
}

impl PathGrammarError {
    /// The broken rule, as a stable kebab-case name for clients.
    pub fn rule(&self) -> &'static str {
        match self {
            PathGrammarError::NotAbsolute { .. } => "leading-slash",
            PathGrammarError::TrailingSlash { .. } => "trailing-slash",
            PathGrammarError::EmptySegment { .. } => "empty-segment",
            PathGrammarError::VerbInSegment { .. } => "verb-in-segment",
        }
    }

    /// The refused path.
    pub fn path(&self) -> &str {
        match self {
            PathGrammarError::NotAbsolute { path }
            | PathGrammarError::TrailingSlash { path }
            | PathGrammarError::EmptySegment { path }
            | PathGrammarError::VerbInSegment { path, .. } => path,
        }
    }

    /// The offending segment; `None` for structural faults, which have none.
    pub fn segment(&self) -> Option<&str> {
        match self {
            PathGrammarError::VerbInSegment { segment, .. } => Some(segment),
            PathGrammarError::NotAbsolute { .. }
            | PathGrammarError::TrailingSlash { .. }
            | PathGrammarError::EmptySegment { .. } => None,
        }
    }
}

impl From<PathGrammarError> for AgtpError {
    fn from(refused: PathGrammarError) -> AgtpError {
        let mut error = AgtpError::new(
            Status::ENDPOINT_VIOLATION,
            "endpoint-violation",
            refused.to_string(),
        )
        .with_detail("rule", refused.rule())
        .with_detail("path", refused.path());
        if let Some(segment) = refused.segment() {
            error = error.with_detail("segment", segment);
        }
        if let PathGrammarError::VerbInSegment { verb, .. } = &refused {
            error = error.with_detail("verb", verb.as_str());
        }
        error
    }
}

/// Checks `path` (without its query string) against the grammar.
pub fn validate_path(path: &str, catalog: &Catalog) -> Result<(), PathGrammarError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(PathGrammarError::NotAbsolute { path: path.into() });
    };
    if rest.is_empty() {
        return Ok(());
    }
    if rest.ends_with('/') {
        return Err(PathGrammarError::TrailingSlash { path: path.into() });
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(PathGrammarError::EmptySegment { path: path.into() });
        }
        if is_parameter(segment) {
            continue;
        }
        let mut buf = [0u8; MAX_VERB_LEN];
        if let Some(token) = normalise(segment, &mut buf) {
            if catalog.is_approved(token) || catalog.is_legacy(token) {
                return Err(PathGrammarError::VerbInSegment {
                    path: path.into(),
                    segment: segment.into(),
                    verb: token.into(),
                });
            }
        }
    }
    Ok(())
}

/// `{name}`: a parameter, exempt from the verb check.
fn is_parameter(segment: &str) -> bool {
    segment.len() >= 2 && segment.starts_with('{') && segment.ends_with('}')
}

/// The segment upper-cased, percent-escapes decoded, `-` and `_` dropped; `None` when the
/// result cannot be a verb (a byte other than an ASCII letter, empty, or too long).
fn normalise<'b>(segment: &str, buf: &'b mut [u8; MAX_VERB_LEN]) -> Option<&'b str> {
    let bytes = segment.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        let mut byte = bytes[i];
        i += 1;
        if byte == b'%' {
            let high = bytes.get(i).copied().and_then(hex_value)?;
            let low = bytes.get(i + 1).copied().and_then(hex_value)?;
            byte = high << 4 | low;
            i += 2;
        }
        match byte {
            b'-' | b'_' => {}
            b'a'..=b'z' | b'A'..=b'Z' => {
                *buf.get_mut(n)? = byte.to_ascii_uppercase();
                n += 1;
            }
            _ => return None,
        }
    }
    if n == 0 {
        return None;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

#[cfg(test)]
mod tests;

//! Matching a request's `(method, path)` to an endpoint.
//!
//! Endpoints are indexed by method, then by segment count, so a request only meets the
//! templates that could match it. Within one bucket, endpoints are ordered most specific
//! first: at the first position where two templates differ, the literal segment sorts
//! before the `{param}` one, so the first match is the one literal precedence picks
//! (`/rooms/special` over `/rooms/{id}`). Comparing a candidate allocates nothing: request
//! segments are percent-decoded on the fly; only the winner's parameters are copied out.

use std::collections::HashMap;

use super::endpoint::Endpoint;
use super::template::{decoded_eq, percent_decode, Segment};

/// Where a request goes.
#[derive(Debug)]
pub enum Route<'a> {
    /// An endpoint serves this method at this path.
    Found {
        /// The endpoint.
        endpoint: &'a Endpoint,
        /// The `{param}` values, percent-decoded, in path order.
        params: Vec<(String, String)>,
    },
    /// The path is served, but not with this method.
    MethodNotAllowed {
        /// The methods that are served at the path, sorted.
        allowed: Vec<String>,
    },
    /// Nothing is served at the path.
    NotFound,
}

/// The index: method → segment count → endpoint indices, most specific first.
#[derive(Debug, Default)]
pub(super) struct Router {
    by_method: HashMap<String, Vec<Vec<usize>>>,
}

impl Router {
    /// Indexes `endpoints`; indices refer to that slice.
    pub(super) fn new(endpoints: &[Endpoint]) -> Router {
        let mut by_method: HashMap<String, Vec<Vec<usize>>> = HashMap::new();
        for (index, endpoint) in endpoints.iter().enumerate() {
            let depths = by_method.entry(endpoint.method.clone()).or_default();
            let depth = endpoint.segments.len();
            if depths.len() <= depth {
                depths.resize_with(depth + 1, Vec::new);
            }
            depths[depth].push(index);
        }
        for bucket in by_method.values_mut().flatten() {
            bucket.sort_by(|&a, &b| {
                let shape = |i: usize| endpoints[i].segments.iter().map(Segment::is_param);
                shape(a).cmp(shape(b))
            });
        }
        Router { by_method }
    }

    /// Routes `method path` (path without its query, still percent-encoded).
    pub(super) fn route<'a>(
        &self,
        endpoints: &'a [Endpoint],
        method: &str,
        path: &str,
    ) -> Route<'a> {
        let Some(rest) = path.strip_prefix('/') else {
            return Route::NotFound;
        };
        let depth = if rest.is_empty() {
            0
        } else {
            rest.bytes().filter(|&b| b == b'/').count() + 1
        };
        let bucket = |method: &str| {
            self.by_method
                .get(method)
                .and_then(|depths| depths.get(depth))
                .map(Vec::as_slice)
                .unwrap_or_default()
        };
        for &index in bucket(method) {
            let endpoint = &endpoints[index];
            if matches(&endpoint.segments, rest) {
                return Route::Found {
                    endpoint,
                    params: bind(&endpoint.segments, rest),
                };
            }
        }
        let mut allowed: Vec<String> = self
            .by_method
            .keys()
            .filter(|other| other.as_str() != method)
            .filter(|other| {
                bucket(other)
                    .iter()
                    .any(|&index| matches(&endpoints[index].segments, rest))
            })
            .cloned()
            .collect();
        if allowed.is_empty() {
            return Route::NotFound;
        }
        allowed.sort_unstable();
        Route::MethodNotAllowed { allowed }
    }
}

/// The request path's segments; the root has none.
fn request_segments(rest: &str) -> impl Iterator<Item = &str> {
    rest.split('/').filter(move |_| !rest.is_empty())
}

/// Whether the request segments (`rest` is the path after its leading `/`) fit the
/// declared segments; the caller has already checked the counts agree.
fn matches(segments: &[Segment], rest: &str) -> bool {
    segments
        .iter()
        .zip(request_segments(rest))
        .all(|(declared, actual)| match declared {
            Segment::Literal(literal) => decoded_eq(actual, literal),
            Segment::Param(_) => !actual.is_empty(),
        })
}

/// The `{param}` bindings of a path that [`matches`].
fn bind(segments: &[Segment], rest: &str) -> Vec<(String, String)> {
    segments
        .iter()
        .zip(request_segments(rest))
        .filter_map(|(declared, actual)| match declared {
            Segment::Param(name) => Some((name.clone(), percent_decode(actual))),
            Segment::Literal(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;

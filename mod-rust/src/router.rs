//! Matching a request's concrete path (`/rooms/42`) to the bound endpoint whose declared path
//! (`/rooms/{room_id}`) it fits, the way the daemon routed it: segment by segment, literal
//! segments before `{param}` ones at the first position where two declared paths differ.
//! Segments are compared and bound percent-decoded.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::handler::BoxedHandler;

/// The bound endpoints of one connection, indexed by method, most specific first.
#[derive(Default)]
pub(crate) struct Routes {
    by_method: HashMap<String, Vec<Route>>,
}

struct Route {
    path: String,
    segments: Vec<Segment>,
    handler: BoxedHandler,
}

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A request matched to an endpoint.
pub(crate) struct Matched<'a> {
    /// The endpoint's declared path.
    pub(crate) path: &'a str,
    /// `{param}` values, percent-decoded, in path order.
    pub(crate) params: Vec<(String, String)>,
    /// The handler bound to the endpoint.
    pub(crate) handler: &'a BoxedHandler,
}

impl Routes {
    /// Binds `handler` to `method path` (a declared path).
    pub(crate) fn insert(&mut self, method: &str, path: &str, handler: BoxedHandler) {
        let segments = split(path)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_owned()),
                    None => Segment::Literal(percent_decode(s).into_owned()),
                },
            )
            .collect();
        let routes = self.by_method.entry(method.to_owned()).or_default();
        routes.push(Route {
            path: path.to_owned(),
            segments,
            handler,
        });
        // `false < true`: a literal sorts before a parameter at the first differing position.
        routes.sort_by_cached_key(|r| {
            let shape: Vec<bool> = r.segments.iter().map(Segment::is_param).collect();
            shape
        });
    }

    /// The endpoint serving `method path`, if any. A query string is ignored.
    pub(crate) fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        let requested: Vec<Cow<'_, str>> = split(path).map(percent_decode).collect();
        let route = self.by_method.get(method)?.iter().find(|route| {
            route.segments.len() == requested.len()
                && route.segments.iter().zip(&requested).all(|(s, r)| match s {
                    Segment::Literal(text) => text == r,
                    Segment::Param(_) => !r.is_empty(),
                })
        })?;
        let params = route
            .segments
            .iter()
            .zip(requested)
            .filter_map(|(s, r)| match s {
                Segment::Param(name) => Some((name.clone(), r.into_owned())),
                Segment::Literal(_) => None,
            })
            .collect();
        Some(Matched {
            path: &route.path,
            params,
            handler: &route.handler,
        })
    }
}

impl Segment {
    fn is_param(&self) -> bool {
        matches!(self, Segment::Param(_))
    }
}

/// The segments of a path; `/` has none.
fn split(path: &str) -> impl Iterator<Item = &str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split('/').filter(move |_| !rest.is_empty())
}

/// `%XX` decoding; text that is not valid percent-encoded UTF-8 is kept as it is.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[hi, lo]) => hex_digit(hi).zip(hex_digit(lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (bytes[i], escaped) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(text),
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests;

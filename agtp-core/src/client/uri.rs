//! `agtp://` URIs of the forms a client can resolve without an agent registry:
//!
//! - `agtp://host[:port]`: the server itself (a target-less request, `DISCOVER` to read
//!   the Server Manifest);
//! - `agtp://{agent-id}@host[:port]`: an agent by its 64-hex Agent-ID, sent as the
//!   `Agent-ID` header;
//! - `agtp://host[:port]/agents/{name}`: an agent by local name, sent as the path; the
//!   server resolves it.
//!
//! The port is optional (4480 when absent); IPv6 literals go in brackets
//! (`agtp://[::1]:4480`). A bare `agtp://{agent-id}` needs agent discovery, which this
//! client does not do, so it is refused with a hint.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::{Request, DEFAULT_PORT};

/// Why a string is not an `agtp://` URI this client can use. Messages quote the part
/// that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme://` at all.
    #[error("`{0}`: not an AGTP URI; expected agtp://host[:port]")]
    MissingScheme(String),
    /// Another scheme, such as `http://`.
    #[error("`{0}://`: not an AGTP URI scheme; expected agtp://")]
    Scheme(String),
    /// Nothing between `agtp://` and the path.
    #[error("the URI names no host")]
    MissingHost,
    /// A host with characters no host name has.
    #[error("`{0}`: not a valid host name")]
    Host(String),
    /// An IPv6 address without brackets, or a bracketed one that does not parse.
    #[error("`{0}`: IPv6 addresses go in brackets, as in agtp://[::1]:4480")]
    Ipv6(String),
    /// A port that is not a number in 1..=65535.
    #[error("`{0}`: the port must be a number from 1 to 65535")]
    Port(String),
    /// The part before `@` is not a canonical Agent-ID.
    #[error("`{0}`: the part before `@` must be an Agent-ID (64 lower-case hex digits)")]
    AgentId(String),
    /// `agtp://{agent-id}` alone: finding its server needs agent discovery.
    #[error("agtp://{0}: an Agent-ID alone needs agent discovery, which this client does not do; add the host, as in agtp://{0}@host")]
    NeedsHost(String),
    /// A path other than `/agents/{name}`.
    #[error(
        "`{0}`: a URI path can only be /agents/{{name}}; give other paths as the request path"
    )]
    Path(String),
    /// A fragment (`#...`), which AGTP does not carry.
    #[error("`{0}`: AGTP URIs have no fragment")]
    Fragment(String),
    /// An agent or a query where only a server may be named.
    #[error("`{0}`: name a server only, as in agtp://host[:port], with no agent, path or query")]
    NotServer(String),
}

/// A parsed `agtp://` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    host: String,
    port: Option<u16>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    query: Vec<(String, String)>,
}

impl Uri {
    /// Parses a URI that names a server only (`agtp://host[:port]`), as a proxy's
    /// upstream must.
    pub fn parse_server(input: &str) -> Result<Uri, UriError> {
        let uri: Uri = input.parse()?;
        if uri.agent_id.is_some() || uri.agent_name.is_some() || !uri.query.is_empty() {
            return Err(UriError::NotServer(input.to_owned()));
        }
        Ok(uri)
    }

    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to: the one given, else 4480.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// The Agent-ID of `agtp://{agent-id}@host`.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    /// The local name of `agtp://host/agents/{name}`.
    pub fn agent_name(&self) -> Option<&str> {
        self.agent_name.as_deref()
    }

    /// The query pairs, decoded.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The request path the URI implies: `/agents/{name}`, or none for the server.
    pub fn path(&self) -> Option<String> {
        self.agent_name
            .as_ref()
            .map(|name| format!("/agents/{name}"))
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => {
                let host = self.host.trim_end_matches('.').to_ascii_lowercase();
                host == "localhost" || host.ends_with(".localhost")
            }
        }
    }

    /// Where to connect, with or without TLS.
    pub fn origin(&self, tls: bool) -> Origin {
        Origin::new(self.host.clone(), self.port(), tls)
    }

    /// Where to connect by the usual rule: TLS unless the host is loopback, or always
    /// when `force_tls` is set.
    pub fn secure_origin(&self, force_tls: bool) -> Origin {
        self.origin(force_tls || !self.is_loopback())
    }

    /// A `method` request addressed as the URI says: the path for `/agents/{name}`, the
    /// `Agent-ID` header for `{agent-id}@host`, the query; target-less otherwise.
    pub fn request(&self, method: &str) -> Request {
        let mut request = Request::new(method.to_ascii_uppercase(), self.path().as_deref());
        request.query = self.query.clone();
        if let Some(id) = &self.agent_id {
            request.headers.append("Agent-ID", id.as_str());
        }
        request
    }
}

impl FromStr for Uri {
    type Err = UriError;

    fn from_str(input: &str) -> Result<Uri, UriError> {
        let rest = match input.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("agtp") => rest,
            Some((scheme, _)) => return Err(UriError::Scheme(scheme.to_owned())),
            None => return Err(UriError::MissingScheme(input.to_owned())),
        };
        if rest.contains('#') {
            return Err(UriError::Fragment(input.to_owned()));
        }
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let (agent_id, host_port) = match authority.rsplit_once('@') {
            Some((id, host_port)) if is_agent_id(id) => (Some(id.to_owned()), host_port),
            Some((id, _)) => return Err(UriError::AgentId(id.to_owned())),
            None => (None, authority),
        };
        if agent_id.is_none() && is_agent_id(host_port) && path.is_empty() {
            return Err(UriError::NeedsHost(host_port.to_owned()));
        }
        let (host, port) = split_host_port(host_port)?;
        Ok(Uri {
            host,
            port,
            agent_id,
            agent_name: agent_name(path)?,
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        })
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("agtp://")?;
        if let Some(id) = &self.agent_id {
            write!(f, "{id}@")?;
        }
        f.write_str(&bracketed(&self.host))?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(path) = self.path() {
            f.write_str(&path)?;
        }
        Ok(())
    }
}

/// Where a client connects: host, port, and whether to speak TLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    host: String,
    port: u16,
    tls: bool,
}

impl Origin {
    /// An origin; `host` is a name or an IP address (IPv6 without brackets).
    pub fn new(host: impl Into<String>, port: u16, tls: bool) -> Origin {
        let host = host.into();
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner.to_owned(),
            None => host,
        };
        Origin { host, port, tls }
    }

    /// The host, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether connections speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        format!("{}:{}", bracketed(&self.host), self.port)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

/// Whether `s` is a canonical Agent-ID: 64 lower-case hex digits.
pub fn is_agent_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UriError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| UriError::Ipv6(authority.to_owned()))?;
        inside
            .parse::<Ipv6Addr>()
            .map_err(|_| UriError::Ipv6(authority.to_owned()))?;
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(parse_port(port)?),
                None => return Err(UriError::Ipv6(authority.to_owned())),
            },
        };
        return Ok((inside.to_owned(), port));
    }
    if authority.matches(':').count() > 1 {
        return Err(UriError::Ipv6(authority.to_owned()));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(UriError::MissingHost);
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid || host.starts_with(['-', '.']) {
        return Err(UriError::Host(host.to_owned()));
    }
    Ok((host.to_owned(), port))
}

fn parse_port(port: &str) -> Result<u16, UriError> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| UriError::Port(port.to_owned()))
}

/// The `{name}` of `/agents/{name}`; none for an empty path or `/`.
fn agent_name(path: &str) -> Result<Option<String>, UriError> {
    if path.is_empty() || path == "/" {
        return Ok(None);
    }
    let name = path
        .strip_prefix("/agents/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .filter(|name| name.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| UriError::Path(path.to_owned()))?;
    Ok(Some(name.to_owned()))
}

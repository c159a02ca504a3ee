//! Protocol version, capability tags, and the default limits and timeouts (PROTOCOL.md §2, §5,
//! §6, §8.4, §10).

use std::time::Duration;

/// The gateway protocol version this crate speaks, as carried in `hello.gateway_versions` and
/// `welcome.gateway_version`.
pub const PROTOCOL_VERSION: &str = "1.0";

/// Every version this crate can speak, most preferred first.
pub const SUPPORTED_VERSIONS: &[&str] = &[PROTOCOL_VERSION];

/// Size of the big-endian length prefix in front of every payload, in bytes.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Default largest payload accepted or sent: 16 MiB (the length prefix excluded).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Capability every runtime claims: it serves registered endpoints.
pub const CAP_REGISTERED_FUNCTION: &str = "registered_function";

/// Capability that lets a runtime ask the daemon for Ed25519 signatures (`sign_request`).
pub const CAP_SIGN_REQUEST: &str = "sign_request";

/// The only signature algorithm `sign_response.alg` carries.
pub const SIGNATURE_ALG: &str = "Ed25519";

/// Pool a runtime joins when `hello.module.pool` is absent.
pub const DEFAULT_POOL: &str = "default";

/// How long the daemon waits for `hello` after accept, and again for `register_ack` after it
/// sent `register` / `register_resume`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handler timeout for an endpoint that does not configure one (before the request's TTL caps it).
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a serving connection may sit idle before the daemon pings it.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// How long a peer has to answer a `ping` with a `pong`.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(30);

/// Picks the version to answer a `hello` with: the first entry of the runtime's list (its
/// preference order) that this crate supports, or `None` (→ `gateway_version_unsupported`).
pub fn negotiate_version(offered: &[String]) -> Option<&'static str> {
    offered.iter().find_map(|v| {
        SUPPORTED_VERSIONS
            .iter()
            .copied()
            .find(|s| *s == v.as_str())
    })
}

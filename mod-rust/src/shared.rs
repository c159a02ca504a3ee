//! What every gateway connection of one runtime shares: its identity, the socket, the
//! handlers and the manifest cache, and the token that stops it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use runtime_protocol::ModuleInfo;
use tokio_util::sync::CancellationToken;

use crate::cache::ManifestCache;
use crate::handler::BoxedHandler;

/// What every connection of a runtime shares.
pub(crate) struct Shared {
    /// `hello.module` for every connection.
    pub(crate) module: ModuleInfo,
    /// The daemon's socket.
    pub(crate) socket: PathBuf,
    /// The payload encoding of every connection.
    pub(crate) encoding: runtime_protocol::Encoding,
    /// Handlers keyed by `(METHOD, declared path)`.
    pub(crate) handlers: BTreeMap<(String, String), BoxedHandler>,
    /// The last registration, for `hello.cached_manifest_hash` and `register_resume`.
    pub(crate) cache: ManifestCache,
    /// Cancelled when the runtime stops: connections say goodbye and finish in-flight work.
    pub(crate) stop: CancellationToken,
}

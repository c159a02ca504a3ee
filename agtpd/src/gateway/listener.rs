//! Where runtimes connect: the Unix socket (mode 0660, optional group) and, optionally, a
//! loopback TCP address. Binding is separate from serving so that tests and the launcher
//! bind first and hand the listeners to `Daemon::serve`.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};

use super::{handshake, Gateway};

/// A bound gateway listener, not yet serving.
#[derive(Debug)]
pub enum GatewayListener {
    /// A Unix socket; the file is removed when the gateway stops.
    Unix {
        /// The bound socket.
        listener: UnixListener,
        /// Its path.
        path: PathBuf,
    },
    /// A loopback TCP listener.
    Tcp(TcpListener),
}

/// Why a gateway listener could not be bound. Exit code 71.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The socket's directory does not exist (systemd's `RuntimeDirectory=` creates it).
    #[error("gateway socket directory `{0}` does not exist; create it (RuntimeDirectory=agtpd under systemd) or set gateway_socket")]
    MissingDirectory(PathBuf),
    /// Another process answers on the socket.
    #[error("gateway socket `{0}` is in use: another process answers on it")]
    InUse(PathBuf),
    /// The path exists and is not a socket.
    #[error("gateway socket `{0}` exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// The address is not a loopback address.
    #[error("gateway address {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// The group named by `gateway.socket_group` does not exist.
    #[error("gateway.socket_group: {0}")]
    Group(String),
    /// The operating system refused.
    #[error("gateway {what} `{target}`: {error}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path or address.
        target: String,
        /// The error.
        error: std::io::Error,
    },
}

impl GatewayListener {
    /// Binds the Unix socket at `path`. A socket file left behind by a dead daemon is
    /// replaced; one that something still answers on is not. `group` (a name or a numeric
    /// id) becomes the socket's group; its mode is 0660.
    pub fn bind_unix(path: &Path, group: Option<&str>) -> Result<GatewayListener, BindError> {
        let dir = match path.parent() {
            Some(dir) if dir.as_os_str().is_empty() => Path::new("."),
            Some(dir) => dir,
            None => Path::new("/"),
        };
        if !dir.is_dir() {
            return Err(BindError::MissingDirectory(dir.to_owned()));
        }
        let io = |what, error| BindError::Io {
            what,
            target: path.display().to_string(),
            error,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(BindError::NotASocket(path.to_owned()))
            }
            Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(BindError::InUse(path.to_owned())),
                // Nothing listens: a socket left behind by a daemon that is gone.
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "removing a stale gateway socket");
                    std::fs::remove_file(path).map_err(|e| io("socket removal", e))?;
                }
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => return Err(io("socket", error)),
            },
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(io("socket", error)),
        }
        let gid = group
            .map(super::config::resolve_group)
            .transpose()
            .map_err(BindError::Group)?;
        let listener = UnixListener::bind(path).map_err(|e| io("socket", e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| io("socket mode", e))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| io("socket group", e))?;
        }
        Ok(GatewayListener::Unix {
            listener,
            path: path.to_owned(),
        })
    }

    /// Binds a loopback TCP address (IPv4 or IPv6); anything else is refused.
    pub async fn bind_tcp(addr: SocketAddr) -> Result<GatewayListener, BindError> {
        if !addr.ip().is_loopback() {
            return Err(BindError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| BindError::Io {
                what: "address",
                target: addr.to_string(),
                error,
            })?;
        Ok(GatewayListener::Tcp(listener))
    }

    /// Where the listener is, for logs.
    pub fn describe(&self) -> String {
        match self {
            GatewayListener::Unix { path, .. } => path.display().to_string(),
            GatewayListener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => addr.to_string(),
                Err(_) => "tcp".to_owned(),
            },
        }
    }

    /// Accepts runtimes until the gateway stops; each connection gets its own task.
    pub(super) async fn run(self, gateway: Arc<Gateway>) {
        let stop = gateway.stop.clone();
        match self {
            GatewayListener::Unix { listener, path } => {
                loop {
                    let accepted = tokio::select! {
                        _ = stop.cancelled() => break,
                        accepted = listener.accept() => accepted,
                    };
                    match accepted {
                        Ok((stream, _)) => {
                            let peer = format!("unix:{}", path.display());
                            let pid = stream
                                .peer_cred()
                                .ok()
                                .and_then(|cred| cred.pid())
                                .and_then(|pid| u32::try_from(pid).ok());
                            let serve = handshake::serve(stream, gateway.clone(), peer, pid);
                            gateway.spawn(serve);
                        }
                        Err(error) => backoff(error).await,
                    }
                }
                drop(listener);
                let _ = std::fs::remove_file(&path);
            }
            GatewayListener::Tcp(listener) => loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let peer = peer.to_string();
                        gateway.spawn(handshake::serve(stream, gateway.clone(), peer, None));
                    }
                    Err(error) => backoff(error).await,
                }
            },
        }
    }
}

/// Out of file descriptors and similar: wait instead of spinning.
async fn backoff(error: std::io::Error) {
    tracing::warn!(%error, "gateway accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

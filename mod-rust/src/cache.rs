//! The manifest cache (PROTOCOL.md §7.3): the `manifest_hash` and endpoint set of the last
//! registration this runtime applied, kept in memory for reconnects and on disk for restarts,
//! so that `hello.cached_manifest_hash` can earn a `register_resume`.
//!
//! The file is one JSON object, `{"version": 1, "manifest_hash": "sha256:…", "endpoints":
//! [...]}`, replaced atomically (written beside, then renamed). A file that is missing,
//! unreadable, of another version or naming an endpoint the program no longer handles is
//! ignored: the daemon then sends the full `register`, which costs only bytes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use runtime_protocol::EndpointSpec;
use serde::{Deserialize, Serialize};

/// Version of the cache file's layout.
const FILE_VERSION: u32 = 1;

/// A registration worth resuming: its hash and the endpoints it bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CachedManifest {
    /// The daemon's `register.manifest_hash`, stored and echoed, never computed.
    pub(crate) manifest_hash: String,
    /// The endpoints of that `register` (schemas are not needed to serve, so not kept).
    pub(crate) endpoints: Vec<EndpointSpec>,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    #[serde(flatten)]
    manifest: CachedManifest,
}

/// The cache shared by all connections of a runtime.
#[derive(Debug)]
pub(crate) struct ManifestCache {
    /// Where the cache persists; `None` keeps it in memory only.
    path: Option<PathBuf>,
    current: Mutex<Option<CachedManifest>>,
}

impl ManifestCache {
    /// Loads the cache at `path`, keeping its content only if `usable` accepts it.
    pub(crate) fn load(
        path: Option<PathBuf>,
        usable: impl FnOnce(&CachedManifest) -> bool,
    ) -> ManifestCache {
        let current = path
            .as_deref()
            .and_then(read_file)
            .filter(|manifest| usable(manifest));
        ManifestCache {
            path,
            current: Mutex::new(current),
        }
    }

    /// The hash to offer in `hello`, if any.
    pub(crate) fn hash(&self) -> Option<String> {
        self.lock().as_ref().map(|m| m.manifest_hash.clone())
    }

    /// The cached endpoint set, if it is the one named `manifest_hash`.
    pub(crate) fn get(&self, manifest_hash: &str) -> Option<CachedManifest> {
        let current = self.lock();
        current
            .as_ref()
            .filter(|m| m.manifest_hash == manifest_hash)
            .cloned()
    }

    /// Replaces the cache with a registration the runtime accepted. A file that cannot be
    /// written is logged and otherwise ignored: resuming is an optimisation.
    pub(crate) fn store(&self, manifest: CachedManifest) {
        {
            let mut current = self.lock();
            if current.as_ref() == Some(&manifest) {
                return;
            }
            *current = Some(manifest.clone());
        }
        if let Some(path) = &self.path {
            if let Err(err) = write_file(path, manifest) {
                tracing::warn!(path = %path.display(), cause = %err, "cannot write the manifest cache");
            }
        }
    }

    /// Forgets the cached set, in memory and on disk.
    pub(crate) fn discard(&self) {
        *self.lock() = None;
        if let Some(path) = &self.path {
            match fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!(path = %path.display(), cause = %err, "cannot remove the manifest cache");
                }
                _ => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<CachedManifest>> {
        // The value is replaced whole under the lock, so a panicking holder leaves it valid.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn read_file(path: &Path) -> Option<CachedManifest> {
    let bytes = fs::read(path).ok()?;
    let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
    (file.version == FILE_VERSION).then_some(file.manifest)
}

fn write_file(path: &Path, manifest: CachedManifest) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let file = CacheFile {
        version: FILE_VERSION,
        manifest,
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    // Written beside and renamed over, so a reader sees the old file or the new one, never
    // half of one; the process id keeps two workers of one module from sharing a temp file.
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = PathBuf::from(temp);
    fs::write(&temp, bytes)?;
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests;

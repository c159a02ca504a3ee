//! The log file the writer owns ([`LogFile`]: append whole lines or nothing, sync, "is
//! this still the file at `path`?"), the names rotated and set-aside files get, the
//! timestamps lines carry, and [`chain_files`] to list a log's files in chain order.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::entry::parse_line;

/// The log file currently appended to.
#[derive(Debug)]
pub(crate) struct LogFile {
    file: File,
    len: u64,
    /// The file ends in a torn line: the next append starts with `\n`.
    needs_newline: bool,
    /// Appended since the last sync.
    dirty: bool,
}

impl LogFile {
    /// Opens (creating if needed, mode 0640 on Unix: records may hold personal data)
    /// `path` for appending.
    pub(crate) fn open(path: &Path) -> io::Result<LogFile> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
        let file = options.open(path)?;
        let len = file.metadata()?.len();
        Ok(LogFile {
            file,
            len,
            needs_newline: false,
            dirty: false,
        })
    }

    /// Makes the next append start on a fresh line.
    pub(crate) fn start_on_fresh_line(&mut self) {
        self.needs_newline = true;
    }

    /// The file's length as far as this writer knows.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `line` in one write. On failure the file is cut back to its previous
    /// length, so a failed append never leaves half a line behind.
    pub(crate) fn append(&mut self, line: &[u8]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        if self.needs_newline {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line);
        match self.file.write_all(&buf) {
            Ok(()) => {
                self.len += buf.len() as u64;
                self.needs_newline = false;
                self.dirty = true;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Forces appended data to stable storage, if anything was appended since last time.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Whether `path` still names this file (false after logrotate renamed it, or when
    /// that cannot be told on this platform).
    pub(crate) fn is_at(&self, path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match (self.file.metadata(), fs::metadata(path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            false
        }
    }
}

/// An RFC 3339 UTC timestamp with milliseconds, e.g. `2026-05-15T14:23:11.042Z`.
pub(crate) fn timestamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// `path` plus `.suffix-YYYYMMDDTHHMMSSZ` (or `.YYYYMMDDTHHMMSSZ` with no suffix), and
/// `-1`, `-2`, ... until the name is free.
pub(crate) fn sibling_name(path: &Path, suffix: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = path.as_os_str().to_string_lossy().into_owned();
    let stem = if suffix.is_empty() {
        format!("{base}.{stamp}")
    } else {
        format!("{base}.{suffix}-{stamp}")
    };
    let mut candidate = PathBuf::from(&stem);
    let mut n = 1u32;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{stem}-{n}"));
        n += 1;
    }
    candidate
}

/// The suffix of files set aside at start-up (a key change, or a file that cannot be
/// continued); [`chain_files`] leaves them out.
pub(crate) const SET_ASIDE: &str = "set-aside";

/// `PATH.head`: the last tree head the writer committed to (`SIZE:ROOT`), rewritten after
/// every checkpoint. Start-up compares the log with it, and `audit verify` uses it as a
/// witness, so a log emptied or cut back is noticed.
pub(crate) fn head_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// The files set aside beside the log at `path`, sorted by name.
pub fn set_aside_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let prefix = format!("{}.{SET_ASIDE}", file_name(path));
    let mut found: Vec<PathBuf> = fs::read_dir(log_dir(path))?
        .filter_map(Result::ok)
        .filter(|d| d.file_name().to_string_lossy().starts_with(&prefix))
        .map(|d| d.path())
        .collect();
    found.sort();
    Ok(found)
}

fn log_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The files of the log at `path`, in chain order: `path` and its rotated siblings
/// (`path.*`, not compressed, not set aside, not `path.head`), sorted by the sequence
/// number of their first entry; `path` itself last among files whose first entry cannot
/// be read.
pub fn chain_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let name = file_name(path);
    let prefix = format!("{name}.");
    let head = format!("{name}.head");
    let mut found = Vec::new();
    for dirent in fs::read_dir(log_dir(path))? {
        let dirent = dirent?;
        let file_name = dirent.file_name().to_string_lossy().into_owned();
        let compressed = [".gz", ".xz", ".zst", ".bz2"]
            .iter()
            .any(|ext| file_name.ends_with(ext));
        let sibling = file_name.starts_with(&prefix)
            && !compressed
            && !file_name.starts_with(&head)
            && !file_name[prefix.len()..].starts_with(SET_ASIDE);
        if file_name == name || sibling {
            let p = dirent.path();
            let first = first_seq(&p).unwrap_or(u64::MAX);
            found.push((first, file_name == name, p));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, _, p)| p).collect())
}

/// The sequence number of the first entry among a file's first 64 lines.
fn first_seq(path: &Path) -> Option<u64> {
    let reader = BufReader::new(File::open(path).ok()?);
    reader
        .split(b'\n')
        .take(64)
        .map_while(Result::ok)
        .find_map(|line| parse_line(&line).ok().map(|e| e.seq))
}

//! The `[modules.audit]` table: strict serde (unknown keys refused), defaults, and the
//! checks that run before any file is touched.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `[modules.audit]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The log file (required). Rotated files sit beside it.
    pub path: PathBuf,
    /// When appended lines are forced to stable storage. Default `interval`.
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// The period of `fsync = "interval"`: more than 0, at most 1 s. Default 1 s; refused
    /// with another policy.
    #[serde(default, with = "humantime_serde")]
    pub fsync_interval: Option<Duration>,
    /// Write the full request and response bodies, not only their SHA-256. Default false.
    #[serde(default)]
    pub include_bodies: bool,
    /// Rotate when the next line would take the file past this size: bytes, or a string
    /// such as `"100MiB"`. At least 1 KiB. Default 100 MiB.
    #[serde(default = "default_max_file_size", deserialize_with = "byte_size")]
    pub max_file_size: u64,
    /// Write a checkpoint after this many records. At least 1. Default 1000.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Also write a checkpoint when this much time passed since the last one and records
    /// were written since. Default: none.
    #[serde(default, with = "humantime_serde")]
    pub checkpoint_interval: Option<Duration>,
    /// Add `Attribution-Record` and `Audit-ID` to every response. Default false.
    #[serde(default)]
    pub attribution_headers: bool,
}

/// When appended lines are forced to stable storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// After every batch the writer appends, and each exchange's answer is written only
    /// once its record is synced (durable: a crash loses no answered exchange).
    Always,
    /// Every `fsync_interval`, when something was appended.
    #[default]
    Interval,
    /// Left to the operating system (rotation and shutdown still sync).
    Never,
}

/// The default fsync period, which is also the longest one accepted.
pub const DEFAULT_FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The smallest `max_file_size` accepted.
pub const MIN_FILE_SIZE: u64 = 1024;

fn default_max_file_size() -> u64 {
    100 * 1024 * 1024
}

fn default_checkpoint_every() -> u64 {
    1000
}

impl AuditConfig {
    /// A configuration with every default and the given `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditConfig {
            path: path.into(),
            fsync: FsyncPolicy::default(),
            fsync_interval: None,
            include_bodies: false,
            max_file_size: default_max_file_size(),
            checkpoint_every: default_checkpoint_every(),
            checkpoint_interval: None,
            attribution_headers: false,
        }
    }

    /// Reads and checks a `[modules.audit]` table.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, String> {
        let config = AuditConfig::deserialize(value).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.path.as_os_str().is_empty() {
            return Err("`path` is empty".into());
        }
        if let Some(every) = self.fsync_interval {
            if self.fsync != FsyncPolicy::Interval {
                return Err("`fsync_interval` applies only to fsync = \"interval\"".into());
            }
            if every.is_zero() || every > DEFAULT_FSYNC_INTERVAL {
                return Err("`fsync_interval` must be more than 0 and at most 1s".into());
            }
        }
        if self.max_file_size < MIN_FILE_SIZE {
            return Err(format!(
                "`max_file_size` must be at least {MIN_FILE_SIZE} bytes"
            ));
        }
        if self.checkpoint_every == 0 {
            return Err("`checkpoint_every` must be at least 1".into());
        }
        if self.checkpoint_interval.is_some_and(|d| d.is_zero()) {
            return Err("`checkpoint_interval` must be more than 0".into());
        }
        Ok(())
    }

    /// The fsync period in effect for `fsync = "interval"`.
    pub fn fsync_period(&self) -> Duration {
        self.fsync_interval.unwrap_or(DEFAULT_FSYNC_INTERVAL)
    }
}

fn byte_size<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Raw::deserialize(de)? {
        Raw::Bytes(n) => Ok(n),
        Raw::Text(s) => parse_byte_size(&s).map_err(serde::de::Error::custom),
    }
}

/// `"100MiB"`, `"10 MB"`, `"4096"`: decimal (kB, MB, GB) and binary (KiB, MiB, GiB) units.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid byte size {text:?}"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown byte size unit {other:?} in {text:?}")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("byte size {text:?} is too large"))
}

#[cfg(test)]
mod tests;

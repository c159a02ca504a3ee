//! [`ConfigError`]: why a configuration was refused (exit 78). A leaf: every section's
//! validation returns it, and it knows no section.

use std::path::PathBuf;

use agtp_site::SiteError;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or parsed, a key is unknown or has the wrong type.
    #[error("{0}")]
    Load(Box<figment::Error>),
    /// The named config file does not exist.
    #[error("config file `{0}`: not found")]
    Missing(PathBuf),
    /// The verb catalog, an agent document, an endpoint file or `[policies]` was
    /// refused; the message names the file or key.
    #[error(transparent)]
    Site(#[from] SiteError),
    /// A key has a value the daemon cannot use.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The offending key, dotted.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// A [`ConfigError::Invalid`] for `key`.
pub(crate) fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

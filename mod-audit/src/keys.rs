//! [`load_public_key`]: the verifier's key, from a PEM `PUBLIC KEY` (SPKI) file or 64 hex
//! digits.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;

use crate::canonical::unhex32;

/// Why a public key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read public key {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The contents are not an Ed25519 public key.
    #[error("public key {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Reads an Ed25519 public key: PEM SPKI (`-----BEGIN PUBLIC KEY-----`) or raw hex.
pub fn load_public_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_public_key(&text).map_err(|reason| KeyError::Invalid {
        path: path.to_owned(),
        reason,
    })
}

/// Parses an Ed25519 public key: PEM SPKI or 64 hex digits, surrounding space ignored.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let key = if text.starts_with("-----BEGIN") {
        VerifyingKey::from_public_key_pem(text)
            .map_err(|e| format!("not an ed25519 spki pem ({e})"))?
    } else {
        let bytes = unhex32(text).ok_or("neither a pem public key nor 64 hex digits")?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid ed25519 point".to_owned())?
    };
    Ok(key.to_bytes())
}

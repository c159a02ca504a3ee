//! The daemon's Ed25519 signing key (`[signing]`): loading it for `sign_request`
//! (PROTOCOL.md §9) and the modules, and generating a new pair for `agtpd keygen`. The
//! private key never leaves this module.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey};
use runtime_protocol::{SignError, SignErrorCode, SignRequest, SignResponse, SIGNATURE_ALG};
use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};

/// `[signing]`: the Ed25519 key runtimes may ask the daemon to sign with, and modules sign
/// their records with. The private key never leaves the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// PKCS#8 PEM private key (`agtpd keygen` writes one); without it nothing is signed.
    pub key_file: Option<PathBuf>,
    /// The `kid` sent with each signature; by default the key's RFC 7638 thumbprint.
    pub key_id: Option<String>,
}

/// File names `agtpd keygen` writes in its output directory.
pub const PRIVATE_KEY_FILE: &str = "signing.key";
/// See [`PRIVATE_KEY_FILE`].
pub const PUBLIC_KEY_FILE: &str = "signing.pub";

/// Largest `data_b64` the daemon signs, in characters (the frame limit bounds it anyway).
const MAX_SIGNED_B64: usize = 1 << 20;

/// An Ed25519 private key and the id published with its signatures.
pub struct Signer {
    key: SigningKey,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// The key `[signing]` names, or `None` when it names none. Reads one file.
    pub fn load(config: &SigningConfig) -> Result<Option<Signer>, ConfigError> {
        let Some(path) = &config.key_file else {
            return Ok(None);
        };
        let pem = std::fs::read_to_string(path)
            .map_err(|e| invalid("signing.key_file", format!("`{}`: {e}", path.display())))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
            invalid(
                "signing.key_file",
                format!("`{}`: not a PKCS#8 PEM Ed25519 key: {e}", path.display()),
            )
        })?;
        let kid = match &config.key_id {
            Some(kid) if kid.is_empty() => return Err(invalid("signing.key_id", "is empty")),
            Some(kid) => kid.clone(),
            None => thumbprint(&key),
        };
        Ok(Some(Signer { key, kid }))
    }

    /// The key id sent as `sign_response.kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Answers one `sign_request`: a signature over the decoded bytes, or `sign_failure`
    /// when `data_b64` is not base64url without padding.
    pub(crate) fn answer(&self, request: SignRequest) -> Result<SignResponse, SignError> {
        let failure = |message: &str| SignError {
            operation_id: request.operation_id.clone(),
            code: SignErrorCode::SignFailure,
            message: message.to_owned(),
        };
        if request.data_b64.len() > MAX_SIGNED_B64 {
            return Err(failure("data_b64 is longer than the daemon signs"));
        }
        let Ok(data) = URL_SAFE_NO_PAD.decode(request.data_b64.as_bytes()) else {
            return Err(failure("data_b64 is not base64url without padding"));
        };
        let signature = self.key.sign(&data);
        Ok(SignResponse {
            operation_id: request.operation_id,
            kid: self.kid.clone(),
            alg: SIGNATURE_ALG.to_owned(),
            signature_b64: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        })
    }
}

/// What operational modules (`mod-audit`) sign with: the signature, never the key.
impl agtp_core::module::Signer for Signer {
    fn key_id(&self) -> &str {
        &self.kid
    }

    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// The answer to a `sign_request` when no key is loaded or the capability was not granted.
pub(crate) fn unavailable(request: SignRequest) -> SignError {
    SignError {
        operation_id: request.operation_id,
        code: SignErrorCode::SigningUnavailable,
        message: "this daemon has no signing key for this connection".to_owned(),
    }
}

/// RFC 7638 thumbprint of the public key as an OKP JWK (RFC 8037), base64url.
fn thumbprint(key: &SigningKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let jwk = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()))
}

/// What `agtpd keygen` wrote.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The private key, PKCS#8 PEM, mode 0600.
    pub private_key: PathBuf,
    /// The public key, SubjectPublicKeyInfo PEM, mode 0644.
    pub public_key: PathBuf,
    /// The key id the daemon will publish for it.
    pub kid: String,
}

/// Why `agtpd keygen` failed.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// The operating system had no randomness to give.
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
    /// Encoding the key as PEM failed.
    #[error("cannot encode the key: {0}")]
    Encode(String),
    /// A file could not be created (it may already exist: keys are never overwritten).
    #[error("`{path}`: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
}

/// Generates a key pair into `dir` as [`PRIVATE_KEY_FILE`] (0600) and [`PUBLIC_KEY_FILE`];
/// refuses to overwrite either.
pub fn keygen(dir: &Path) -> Result<GeneratedKey, KeygenError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(KeygenError::Random)?;
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeygenError::Encode(e.to_string()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeygenError::Encode(e.to_string()))?;
    let private_key = dir.join(PRIVATE_KEY_FILE);
    let public_key = dir.join(PUBLIC_KEY_FILE);
    write_new(&private_key, private.as_bytes(), 0o600)?;
    write_new(&public_key, public.as_bytes(), 0o644)?;
    Ok(GeneratedKey {
        private_key,
        public_key,
        kid: thumbprint(&key),
    })
}

/// Writes a new file with `mode`; never replaces one.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeygenError> {
    let error = |error| KeygenError::Write {
        path: path.to_owned(),
        error,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(error)
}

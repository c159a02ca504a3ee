//! Signing through the daemon (PROTOCOL.md §9): the handler's side ([`Signature`],
//! [`SigningError`]) and the message that carries a sign operation to the connection task.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use runtime_protocol::{SignErrorCode, SignResponse};
use tokio::sync::{mpsc, oneshot};

/// An Ed25519 signature made by the daemon's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Identifier of the daemon's signing key.
    pub kid: String,
    /// The algorithm; always `Ed25519`.
    pub alg: String,
    /// The 64 signature bytes.
    pub signature: [u8; 64],
}

/// Why [`Context::sign`](crate::Context::sign) produced no signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The daemon has no signing key: it did not grant `sign_request`, or answered
    /// `signing_unavailable`.
    #[error("signing unavailable: {0}")]
    Unavailable(String),
    /// The daemon tried and failed (`sign_failure`, or a code this SDK does not know).
    #[error("signing failed: {0}")]
    Failed(String),
    /// The request this context belongs to has already been answered.
    #[error("the request is no longer in flight")]
    NotInFlight,
    /// The gateway connection ended before the daemon answered.
    #[error("the gateway connection closed before the daemon answered")]
    ConnectionClosed,
    /// The daemon's `sign_response` did not carry a 64-byte base64url signature.
    #[error("malformed signature from the daemon: {0}")]
    Malformed(String),
}

/// One sign operation on its way from a handler to the connection task, which writes the
/// `sign_request` and sends the daemon's answer back through `reply`.
#[derive(Debug)]
pub(crate) struct SignOp {
    /// The bytes to sign.
    pub(crate) data: Vec<u8>,
    /// Where the answer goes.
    pub(crate) reply: oneshot::Sender<Result<Signature, SigningError>>,
}

/// The handler's end of the per-request sign channel; absent when signing was not granted.
#[derive(Debug, Clone)]
pub(crate) struct Signer(pub(crate) mpsc::Sender<SignOp>);

impl Signer {
    pub(crate) async fn sign(&self, data: Vec<u8>) -> Result<Signature, SigningError> {
        let (reply, answer) = oneshot::channel();
        // The receiver lives as long as the request is in flight on its connection.
        self.0
            .send(SignOp { data, reply })
            .await
            .map_err(|_| SigningError::NotInFlight)?;
        answer.await.map_err(|_| SigningError::ConnectionClosed)?
    }
}

/// `data_b64` for a `sign_request`: base64url without padding.
pub(crate) fn encode_data(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Turns the daemon's `sign_response` into a [`Signature`], checking what the daemon sent.
pub(crate) fn from_response(res: SignResponse) -> Result<Signature, SigningError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(res.signature_b64.as_bytes())
        .map_err(|err| SigningError::Malformed(format!("`signature_b64`: {err}")))?;
    let signature: [u8; 64] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        SigningError::Malformed(format!("{} bytes instead of 64", bytes.len()))
    })?;
    Ok(Signature {
        kid: res.kid,
        alg: res.alg,
        signature,
    })
}

/// Turns the daemon's `sign_error` into a [`SigningError`].
pub(crate) fn from_error(code: SignErrorCode, message: String) -> SigningError {
    match code {
        SignErrorCode::SigningUnavailable => SigningError::Unavailable(message),
        SignErrorCode::SignFailure => SigningError::Failed(message),
        SignErrorCode::Other(code) => SigningError::Failed(format!("{code}: {message}")),
    }
}

#[cfg(test)]
mod tests;

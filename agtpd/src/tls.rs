//! TLS 1.3 termination with rustls, and `[tls]`. Older protocol versions are not offered
//! at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

use crate::error::{invalid, ConfigError};
use crate::restart::Pinned;

/// `[tls]`: TLS 1.3 settings. With both files set, every listener speaks TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Allow plaintext on non-loopback addresses; needs `--insecure` as well.
    pub allow_plaintext_off_loopback: bool,
    /// Whether clients present a certificate (mTLS): `off`, `optional` or `required`.
    pub client_auth: ClientAuth,
    /// PEM file of the CAs (or self-signed agent certificates) whose client
    /// certificates are accepted.
    pub client_ca_file: Option<PathBuf>,
}

/// `[tls] client_auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No certificate is asked for; `Agent-ID` is the only identity.
    #[default]
    Off,
    /// A certificate is asked for and verified when sent; clients without one are served
    /// on their `Agent-ID` header.
    Optional,
    /// The handshake fails without a valid certificate.
    Required,
}

impl TlsConfig {
    /// Checks the files (by building the acceptor) and that plaintext stays on loopback
    /// unless both the key and `--insecure` (`insecure`) allow it.
    pub(crate) fn validate(
        &self,
        listen: &[SocketAddr],
        insecure: bool,
    ) -> Result<(), ConfigError> {
        acceptor(self)?;
        if self.cert_file.is_some() {
            return Ok(());
        }
        if self.client_auth != ClientAuth::Off {
            return Err(invalid(
                "tls.client_auth",
                "client certificates need TLS: set tls.cert_file and tls.key_file",
            ));
        }
        let Some(public) = listen.iter().find(|a| !a.ip().is_loopback()) else {
            return Ok(());
        };
        match (self.allow_plaintext_off_loopback, insecure) {
            (true, true) => Ok(()),
            (true, false) => Err(invalid(
                "tls.allow_plaintext_off_loopback",
                format!(
                    "plaintext on non-loopback address {public} also needs the --insecure flag"
                ),
            )),
            (false, _) => Err(invalid(
                "listen",
                format!(
                    "{public} is not a loopback address and no TLS certificate is configured; \
                     set tls.cert_file and tls.key_file, or allow plaintext with \
                     tls.allow_plaintext_off_loopback = true plus --insecure"
                ),
            )),
        }
    }

    /// Turning TLS on or off needs a restart; new certificate files do not.
    pub(crate) fn pin(&mut self, running: &TlsConfig, pinned: &mut Pinned) {
        if self.cert_file.is_some() != running.cert_file.is_some() {
            pinned.note("tls (enabled or disabled)");
            self.clone_from(running);
        }
    }
}

/// Builds the acceptor `config` describes: `None` for plaintext, an error naming the file
/// for anything unreadable.
pub(crate) fn acceptor(config: &TlsConfig) -> Result<Option<TlsAcceptor>, ConfigError> {
    let (cert_file, key_file) = match (&config.cert_file, &config.key_file) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) | (None, Some(_)) => {
            return Err(invalid(
                "tls",
                "cert_file and key_file must be set together",
            ))
        }
    };
    let certs = read_certs(cert_file, "tls.cert_file")?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| invalid("tls.key_file", format!("`{}`: {e}", key_file.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| invalid("tls", e.to_string()))?;
    let builder = match client_verifier(config)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let server = builder.with_single_cert(certs, key).map_err(|e| {
        invalid(
            "tls",
            format!("certificate and key do not form a usable pair: {e}"),
        )
    })?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// The client-certificate verifier `client_auth` asks for.
fn client_verifier(
    config: &TlsConfig,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, ConfigError> {
    let mandatory = match (config.client_auth, &config.client_ca_file) {
        (ClientAuth::Off, None) => return Ok(None),
        (ClientAuth::Off, Some(_)) => return Err(invalid(
            "tls.client_auth",
            "client_ca_file is set but client_auth is \"off\"; set \"optional\" or \"required\"",
        )),
        (_, None) => {
            return Err(invalid(
                "tls.client_ca_file",
                "client_auth needs the CAs whose client certificates are accepted",
            ))
        }
        (auth, Some(_)) => auth == ClientAuth::Required,
    };
    let Some(path) = &config.client_ca_file else {
        return Ok(None);
    };
    let roots = read_certs(path, "tls.client_ca_file")?;
    let verifier = crate::mtls::AgentVerifier::new(roots, mandatory)
        .map_err(|e| invalid("tls.client_ca_file", format!("`{}`: {e}", path.display())))?;
    Ok(Some(Arc::new(verifier)))
}

fn read_certs(path: &Path, key: &'static str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(key, format!("`{}`: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            format!("`{}`: no PEM certificate found", path.display()),
        ));
    }
    Ok(certs)
}

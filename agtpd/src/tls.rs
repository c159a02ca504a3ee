//! TLS 1.3 termination with rustls. Older protocol versions are not offered at all.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::{invalid, ConfigError, TlsConfig};

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
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| invalid("tls.key_file", format!("`{}`: {e}", key_file.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| invalid("tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            invalid(
                "tls",
                format!("certificate and key do not form a usable pair: {e}"),
            )
        })?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid("tls.cert_file", format!("`{}`: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(
            "tls.cert_file",
            format!("`{}`: no PEM certificate found", path.display()),
        ));
    }
    Ok(certs)
}

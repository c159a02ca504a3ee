//! Certificates for TLS tests: a self-signed `localhost` certificate and key in PEM files.

use std::path::PathBuf;

use agtpd::tls::TlsConfig;
use tempfile::TempDir;

/// A self-signed certificate for `localhost` and its key, in a temp dir.
pub struct SelfSigned {
    /// Holds the files; they go when this is dropped.
    pub dir: TempDir,
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8).
    pub key: PathBuf,
    /// The certificate, DER, for a client to trust.
    pub der: Vec<u8>,
}

impl SelfSigned {
    /// A new certificate and key for `localhost`.
    pub fn localhost() -> SelfSigned {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        let der = made.cert.der().to_vec();
        SelfSigned {
            dir,
            cert,
            key,
            der,
        }
    }

    /// `[tls]` serving this certificate.
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: Some(self.cert.clone()),
            key_file: Some(self.key.clone()),
            ..TlsConfig::default()
        }
    }
}

//! HTTPS: the rustls server configuration from `--tls-cert` and `--tls-key` (PEM files).
//!
//! Only HTTP/1.1 is offered (ALPN `http/1.1`), as S3 clients speak it; TLS 1.2 and 1.3 with
//! rustls's safe defaults (the `ring` provider). Error messages name the files, never their
//! contents.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Reads the certificate chain and private key and builds the server configuration.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "the TLS certificate file {} holds no certificate",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "the TLS certificate {} and key {} do not make a usable pair: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conformance-tests/fixtures/tls")
            .join(name)
    }

    #[test]
    fn the_test_pair_loads_and_mismatches_are_named() {
        assert!(server_config(&fixture("cert.pem"), &fixture("key.pem")).is_ok());
        // A key where the certificate should be: no certificate in it.
        let err = server_config(&fixture("key.pem"), &fixture("key.pem")).unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");
        let err = server_config(&fixture("cert.pem"), &fixture("cert.pem")).unwrap_err();
        assert!(err.contains("cannot read the TLS key"), "{err}");
        let err = server_config(&fixture("missing.pem"), &fixture("key.pem")).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        // Nothing of the key file reaches a message.
        let key = std::fs::read_to_string(fixture("key.pem")).unwrap();
        let body = key.lines().nth(1).unwrap();
        assert!(!err.contains(body));
    }
}

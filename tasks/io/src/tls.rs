//! TLS to Postgres with rustls, honouring libpq's `sslmode`.
//!
//! | `sslmode` | what tote does |
//! |---|---|
//! | `disable` | plain TCP |
//! | `prefer` (libpq's default), `allow` | TLS if the server offers it, certificate not verified; else plain |
//! | `require` | TLS or nothing; certificate not verified (encryption only, as in libpq) |
//! | `verify-ca`, `verify-full` | TLS, the chain verified against `sslrootcert` (a PEM file) or, without it, the Mozilla roots, **and the host name checked** (tote treats verify-ca as the stricter verify-full) |
//!
//! `sslmode` and `sslrootcert` are taken out of the URL before it reaches the driver, which does
//! not know the verify modes.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use tote_core::{Error, Result};

/// How a connection is protected, from the URL's `sslmode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// `sslmode=disable`: no TLS.
    Disable,
    /// `sslmode=prefer` / `allow` / absent: TLS when offered, unverified.
    Prefer,
    /// `sslmode=require`: TLS, unverified.
    Require,
    /// `sslmode=verify-ca` / `verify-full`: TLS, chain and host name verified.
    VerifyFull {
        /// `sslrootcert`: a PEM file of trusted roots (else the Mozilla roots).
        root_cert: Option<PathBuf>,
    },
}

/// Splits `sslmode` and `sslrootcert` off a Postgres URL: returns the URL without them and the mode.
pub fn split_url(url: &str, describe: &str) -> Result<(String, TlsMode)> {
    let mut parsed = url::Url::parse(url).map_err(|_| {
        Error::config(format!(
            "the {describe} URL is not a valid URL ({}); expected postgres://user:password@host:port/dbname",
            tote_core::credentials::redact(url)
        ))
    })?;
    let mut mode = None;
    let mut root_cert = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "sslmode" => {
                mode = Some(v.into_owned());
                None
            }
            "sslrootcert" => {
                root_cert = Some(PathBuf::from(v.into_owned()));
                None
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let mode = match mode.as_deref() {
        None | Some("prefer") | Some("allow") => TlsMode::Prefer,
        Some("disable") => TlsMode::Disable,
        Some("require") => TlsMode::Require,
        Some("verify-ca") | Some("verify-full") => TlsMode::VerifyFull { root_cert },
        Some(other) => {
            return Err(Error::config(format!(
            "the {describe} URL has sslmode={other}; use disable, prefer, require, verify-ca or verify-full"
        )))
        }
    };
    Ok((parsed.to_string(), mode))
}

/// The rustls client configuration for a mode (`None` for [`TlsMode::Disable`]).
pub fn client_config(mode: &TlsMode, describe: &str) -> Result<Option<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup failed: {e}")).with_source(e))?;
    Ok(match mode {
        TlsMode::Disable => None,
        TlsMode::Prefer | TlsMode::Require => Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
        ),
        TlsMode::VerifyFull { root_cert } => {
            let mut roots = RootCertStore::empty();
            match root_cert {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| {
                        Error::config(format!(
                            "sslrootcert={} for the {describe} cannot be read: {e}",
                            path.display()
                        ))
                    })?;
                    let mut added = 0;
                    for cert in CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert.map_err(|e| {
                            Error::config(format!("sslrootcert={} is not PEM: {e}", path.display()))
                        })?;
                        roots.add(cert).map_err(|e| {
                            Error::config(format!(
                                "sslrootcert={} holds an unusable certificate: {e}",
                                path.display()
                            ))
                        })?;
                        added += 1;
                    }
                    if added == 0 {
                        return Err(Error::config(format!(
                            "sslrootcert={} holds no certificate",
                            path.display()
                        )));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            Some(builder.with_root_certificates(roots).with_no_client_auth())
        }
    })
}

/// Accepts any server certificate: `sslmode=require` encrypts but, as in libpq, does not verify.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_rootcert_are_split_off() {
        let (url, mode) = split_url(
            "postgres://u:p@h:5/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
            "source",
        )
        .unwrap();
        assert_eq!(url, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(
            mode,
            TlsMode::VerifyFull {
                root_cert: Some(PathBuf::from("/ca.pem"))
            }
        );
        assert_eq!(
            split_url("postgres://u:p@h/db", "source").unwrap().1,
            TlsMode::Prefer
        );
        let err = split_url("postgres://u:secret@h/db?sslmode=sometimes", "source").unwrap_err();
        assert!(err.message().contains("sslmode=sometimes") && !err.message().contains("secret"));
    }

    /// A `sslrootcert` that is missing, a directory, empty, or PEM without a certificate: a
    /// configuration error naming the file and the database, before any connection is tried.
    #[test]
    fn an_unusable_rootcert_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        let key_only = dir.path().join("key.pem");
        std::fs::write(
            &key_only,
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let cases = [
            (dir.path().join("missing.pem"), "cannot be read"),
            (dir.path().to_path_buf(), "cannot be read"),
            (empty, "holds no certificate"),
            (key_only, "holds no certificate"),
        ];
        for (path, expected) in cases {
            let mode = TlsMode::VerifyFull {
                root_cert: Some(path.clone()),
            };
            let err = client_config(&mode, "warehouse").unwrap_err();
            assert_eq!(err.kind(), tote_core::ErrorKind::Config, "{err}");
            let message = err.message();
            assert!(
                message.contains(&format!("sslrootcert={}", path.display())) && message.contains(expected),
                "{path:?}: {message}"
            );
        }
    }
}

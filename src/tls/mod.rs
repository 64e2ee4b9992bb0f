//! TLS for servers behind it (`.tls(...)`, `--tls`). Behind TLS the server reads one record
//! at a time, so a TCP cut inside a record is invisible to it: only a record boundary is a
//! read boundary. So the handshake comes first, unfuzzed, and then each chunk goes out as
//! its own record (one write, flushed), paced as without TLS: the server's TCP receive queue
//! still shows when it has read. The blob sent whole goes out in as few records as the
//! 16 KiB record limit allows. rustls (with ring) does the TLS.
//!
//! The harness's own TLS server side, for clients that start TLS with it (the recording
//! proxy, client mode's stand-in and relay), is [`server`].

pub(crate) mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{SetupError, SetupErrorKind};

/// How to speak TLS to the server, as the user asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub(crate) ca: Option<PathBuf>,
    pub(crate) insecure: bool,
    pub(crate) server_name: Option<String>,
}

impl TlsOptions {
    /// TLS, trusting the certificates in the PEM file `ca` (a test CA, or the server's own
    /// self-signed certificate).
    pub fn with_ca(ca: impl Into<PathBuf>) -> Self {
        TlsOptions {
            ca: Some(ca.into()),
            ..TlsOptions::default()
        }
    }

    /// TLS without checking the server's certificate: for test servers with throwaway
    /// certificates only.
    pub fn insecure() -> Self {
        TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        }
    }

    /// The name to ask for and check the certificate against. Default: the host of the
    /// address given to `Stutter::new`.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

/// A ready TLS client: the configuration and the server name.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({:?})", self.name)
    }
}

fn tls_error(message: String) -> SetupError {
    SetupError::new(SetupErrorKind::Settings, message)
}

impl Tls {
    /// The client for `options`, against a server whose address was given with `host`.
    pub(crate) fn new(options: &TlsOptions, host: &str) -> Result<Tls, SetupError> {
        // ring, deprecated in rustls 0.23.48 for want of post-quantum key exchange, which a
        // test client splitting records does not need; aws-lc-rs would need a C toolchain.
        #[allow(
            deprecated,
            reason = "ring's provider is enough for a test client, and builds without C"
        )]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("TLS cannot be set up: {e}")))?;
        let config = match (&options.ca, options.insecure) {
            (_, true) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth(),
            (Some(ca), false) => builder
                .with_root_certificates(roots(ca)?)
                .with_no_client_auth(),
            (None, false) => {
                return Err(tls_error(
                    "TLS needs to know whom to trust: give the CA or the server's certificate \
                     (.tls(TlsOptions::with_ca(path)) / --tls-ca FILE), or skip the check for a \
                     test server (TlsOptions::insecure() / --tls-insecure)"
                        .to_owned(),
                ));
            }
        };
        let name = options.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.trim_matches(['[', ']']).to_owned()).map_err(|_| {
            tls_error(format!(
                "{name:?} is not a TLS server name: give a host name or an IP address (--tls-server-name)"
            ))
        })?;
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The handshake on a connected socket.
    pub(crate) async fn connect<S>(&self, stream: S) -> std::io::Result<TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.connector.connect(self.name.clone(), stream).await
    }

    /// What reports say of the connection.
    pub(crate) fn describe(&self) -> String {
        format!("TLS, server name {}", self.name.to_str())
    }
}

/// Whether a failed handshake failed on our side, over the server's certificate: a setting
/// to fix (whom to trust, the name), not the server's doing.
pub(crate) fn refused_certificate(e: &std::io::Error) -> bool {
    let refusal = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    matches!(
        refusal,
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

/// A failed handshake in words: what the server did, where rustls can tell.
pub(crate) fn handshake_failure(e: &std::io::Error) -> String {
    let refusal = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match refusal {
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            "the handshake failed: the server answered in clear text, not with TLS".to_owned()
        }
        _ => format!("the handshake failed: {e}"),
    }
}

/// The certificates in the PEM file at `path`, as trusted roots.
fn roots(path: &Path) -> Result<RootCertStore, SetupError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| {
            tls_error(format!(
                "cannot read the TLS CA file {}: {e}; give a PEM file of certificates",
                path.display()
            ))
        })?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(tls_error(format!(
            "the TLS CA file {} holds no certificate: give a PEM file of certificates",
            path.display()
        )));
    }
    Ok(store)
}

/// Accepts any certificate (but still checks the handshake's signatures): for test servers.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

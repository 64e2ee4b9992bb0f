//! Fuzzing a server behind TLS. Behind TLS a server reads one record's plaintext at a time,
//! so a cut inside a record never reaches it: stutterfuzz sends each chunk as a record of its
//! own, after the handshake. The server here is the examples' line server behind
//! tokio-rustls, with a throwaway certificate for `localhost` made by `rcgen`; in a test of
//! yours, give `TlsOptions::with_ca` your server's test CA or certificate instead.
//!
//! ```text
//! cargo run --example tls              # the buggy server: found, narrowed, replayable
//! cargo run --example tls -- --correct  # the correct one: no finding
//! ```

#[path = "common/line_server.rs"]
#[allow(
    dead_code,
    reason = "this example accepts connections itself, behind TLS"
)]
mod line_server;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use stutterfuzz::{Regressions, Stutter, TlsOptions};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// What a test would hold: the server behind TLS, the CA to trust, the blobs.
fn fuzz(acceptor: TlsAcceptor, ca: &Path, buggy: bool) -> Stutter {
    Stutter::serve(move |listener| serve_tls(listener, acceptor.clone(), buggy))
        .tls(TlsOptions::with_ca(ca).server_name("localhost"))
        .blob("ping", "PING\n")
        .blob("echo", "ECHO hello\nPING\n")
        .cycles(200)
        .regressions(Regressions::Off)
}

/// The line server, each connection behind a TLS handshake.
async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, buggy: bool) {
    while let Ok((stream, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(stream).await {
                line_server::connection(tls, buggy).await;
            }
        });
    }
}

/// A self-signed certificate for `localhost`, written to `dir` as PEM for the client to
/// trust, and the server's side of it.
fn throwaway_certificate(dir: &Path) -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    std::fs::write(dir.join("cert.pem"), made.cert.pem())?;
    let cert = CertificateDer::from_pem_slice(made.cert.pem().as_bytes())?;
    let key = PrivateKeyDer::from_pem_slice(made.signing_key.serialize_pem().as_bytes())?;
    // ring, deprecated in rustls 0.23.48 for want of post-quantum key exchange, which a test
    // server does not need; it builds without a C toolchain.
    #[allow(deprecated, reason = "ring's provider is enough for a test server")]
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn main() -> ExitCode {
    let buggy = !std::env::args().any(|a| a == "--correct");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let acceptor = match throwaway_certificate(dir.path()) {
        Ok(acceptor) => acceptor,
        Err(e) => {
            eprintln!("tls example: could not make a test certificate: {e}");
            return ExitCode::from(2);
        }
    };
    let ca = dir.path().join("cert.pem");
    match fuzz(acceptor, &ca, buggy).try_run_for(Duration::from_secs(10)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("{failure}");
            ExitCode::from(1)
        }
    }
}

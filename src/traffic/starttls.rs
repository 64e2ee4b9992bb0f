//! STARTTLS through the recording proxy. Once a client starts TLS mid-conversation, all that
//! passes is encrypted, and a recording of it is useless. So when the client's bytes at a
//! turn begin a TLS ClientHello, the proxy ends TLS on both sides: it accepts the client's
//! handshake itself (with the certificate given, or a throwaway one it makes for localhost,
//! whose PEM it writes for the client to trust), shakes hands with the server as a client
//! (the same settings as a run's `.tls(...)`), and goes on recording the plaintext. The
//! ClientHello, already read to tell it apart, is handed back to the TLS side first.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

use super::{TrafficError, error};
use crate::tls::{Tls, handshake_failure};

/// The file in the output folder that holds the throwaway certificate, for clients to trust;
/// its name begins with a dot, so a run on the folder's blobs skips it.
pub(super) const THROWAWAY_CERT: &str = ".capture-cert.pem";

/// How long each side's handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The proxy's own side of TLS, toward the client.
pub(super) struct Identity {
    acceptor: TlsAcceptor,
    /// The certificate clients are to trust.
    pub(super) cert: PathBuf,
    /// Whether the proxy made it (and wrote `cert`) itself.
    pub(super) made: bool,
}

impl Identity {
    /// The certificate chain and the private key in the PEM files `cert` and `key`.
    pub(super) fn load(cert: &Path, key: &Path) -> Result<Identity, TrafficError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|iter| iter.collect::<Result<_, _>>())
            .map_err(|e| {
                error(format!(
                    "cannot read the TLS certificate {}: {e}; give a PEM file of certificates",
                    cert.display()
                ))
            })?;
        if chain.is_empty() {
            return Err(error(format!(
                "the TLS certificate file {} holds no certificate: give a PEM file of certificates",
                cert.display()
            )));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            error(format!(
                "cannot read the TLS key {}: {e}; give the certificate's private key as a PEM file",
                key.display()
            ))
        })?;
        let acceptor = acceptor(chain, private).map_err(|e| {
            error(format!(
                "the TLS certificate {} and key {} do not make a TLS server: {e}",
                cert.display(),
                key.display()
            ))
        })?;
        Ok(Identity {
            acceptor,
            cert: cert.to_owned(),
            made: false,
        })
    }

    /// A throwaway self-signed certificate for localhost, 127.0.0.1 and ::1, its PEM written
    /// to `out` ([`THROWAWAY_CERT`]).
    pub(super) fn throwaway(out: &Path) -> Result<Identity, TrafficError> {
        let names = ["localhost", "127.0.0.1", "::1"].map(str::to_owned);
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| error(format!("cannot make a TLS certificate: {e}")))?;
        let cert = out.join(THROWAWAY_CERT);
        std::fs::write(&cert, made.cert.pem())
            .map_err(|e| error(format!("cannot write {}: {e}", cert.display())))?;
        let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
        let acceptor = acceptor(vec![made.cert.der().clone()], key.into())
            .map_err(|e| error(format!("cannot use the TLS certificate it made: {e}")))?;
        Ok(Identity {
            acceptor,
            cert,
            made: true,
        })
    }

    /// Both sides of TLS: this one toward the client, `upstream` toward the server.
    pub(super) fn starttls(&self, upstream: &Tls) -> Starttls {
        Starttls {
            acceptor: self.acceptor.clone(),
            upstream: upstream.clone(),
        }
    }
}

/// A TLS server with this certificate chain and key.
fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, rustls::Error> {
    // ring, deprecated in rustls 0.23.48 for want of post-quantum key exchange, which a
    // recording proxy does not need; aws-lc-rs would need a C toolchain.
    #[allow(
        deprecated,
        reason = "ring's provider is enough for a recording proxy, and builds without C"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Both sides of the proxy's TLS: its own toward the client, and its handshake with the
/// server.
#[derive(Clone)]
pub(super) struct Starttls {
    acceptor: TlsAcceptor,
    upstream: Tls,
}

/// The client's side, once TLS is up: its TLS session, over the socket that gave back the
/// ClientHello first.
pub(super) type ClientTls<C> = tokio_rustls::server::TlsStream<Replayed<C>>;

/// The server's side, once TLS is up.
pub(super) type ServerTls<S> = tokio_rustls::client::TlsStream<S>;

impl Starttls {
    /// Shakes hands with both sides: accepts the client's TLS, whose ClientHello `hello` was
    /// read already, and starts TLS with the server. Why not, in words, when either fails.
    pub(super) async fn upgrade<C, S>(
        &self,
        client: C,
        server: S,
        hello: Vec<u8>,
    ) -> Result<(ClientTls<C>, ServerTls<S>), String>
    where
        C: AsyncRead + AsyncWrite + Unpin,
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let client = async {
            let accepted = self.acceptor.accept(Replayed::new(hello, client));
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, accepted).await {
                Ok(Ok(tls)) => Ok(tls),
                Ok(Err(e)) => Err(format!(
                    "the client's handshake with the proxy failed: {e}; the client must trust \
                     the proxy's certificate"
                )),
                Err(_) => Err("the client did not finish its handshake in 10 s".to_owned()),
            }
        };
        let server = async {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.upstream.connect(server)).await {
                Ok(Ok(tls)) => Ok(tls),
                Ok(Err(e)) => Err(format!(
                    "with the server, {}; check --tls-ca, --tls-insecure and --tls-server-name",
                    handshake_failure(&e)
                )),
                Err(_) => Err("the server did not finish its handshake in 10 s".to_owned()),
            }
        };
        tokio::try_join!(client, server)
    }
}

/// Whether `bytes` (a client's bytes at a turn) begin a TLS ClientHello: a handshake record,
/// byte 0x16, then version 3 and a minor version up to 4 (SSL 3.0 to TLS 1.3). `None` while
/// too few bytes have come to tell.
pub(super) fn client_hello(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [0x16, 0x03, minor, ..] => Some(*minor <= 0x04),
        [] | [0x16] | [0x16, 0x03] => None,
        _ => Some(false),
    }
}

/// A stream that gives bytes read from it already first, then the rest of it.
pub(super) struct Replayed<S> {
    first: Vec<u8>,
    given: usize,
    inner: S,
}

impl<S> Replayed<S> {
    fn new(first: Vec<u8>, inner: S) -> Self {
        Replayed {
            first,
            given: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let left = &this.first[this.given..];
        if left.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        this.given += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn a_client_hello_is_a_handshake_record_of_ssl3_to_tls13() {
        assert_eq!(client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00]), Some(true));
        assert_eq!(client_hello(&[0x16, 0x03, 0x04]), Some(true));
        assert_eq!(client_hello(&[0x16, 0x03, 0x05]), Some(false));
        assert_eq!(client_hello(&[0x16, 0x02, 0x01]), Some(false));
        assert_eq!(client_hello(b"SET k v\n"), Some(false));
        assert_eq!(client_hello(&[0x16, 0x03]), None);
        assert_eq!(client_hello(&[0x16]), None);
    }

    #[tokio::test]
    async fn a_replayed_stream_gives_what_was_read_first() {
        let (mut near, far) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut near, b" world")
            .await
            .unwrap();
        drop(near);
        let mut replayed = Replayed::new(b"hello".to_vec(), far);
        let mut all = String::new();
        replayed.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }

    #[test]
    fn a_throwaway_certificate_is_written_and_a_bad_one_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let made = Identity::throwaway(dir.path()).unwrap();
        assert!(made.made);
        let pem = std::fs::read_to_string(&made.cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate\n").unwrap();
        let Err(e) = Identity::load(&not_pem, &not_pem) else {
            panic!("a file of no certificate is refused");
        };
        let text = e.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("holds no certificate"), "{text}");
    }
}

//! The harness's own TLS server side, for clients that start TLS with the harness instead of
//! the server: the recording proxy (`stutterfuzz capture`), which ends TLS on both sides to
//! record the plaintext, and client mode, whose stand-in and relay answer a client's STARTTLS
//! themselves to cut the answers inside TLS. Both need the same things: an [`Identity`] (the
//! certificate and key given, or a throwaway certificate for localhost whose PEM is written
//! for the client to trust), a way to tell a ClientHello from other bytes at a turn
//! ([`client_hello`]), a stream that hands back the ClientHello bytes read to tell it
//! ([`Replayed`]), and TLS ended on both sides at once ([`end_both`]) where a server stands
//! behind.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

/// The client's side once TLS is up: its TLS session, over the stream that gave back the
/// ClientHello first.
pub(crate) type Accepted<C> = tokio_rustls::server::TlsStream<Replayed<C>>;

/// The harness's side of TLS toward a client: its certificate (with the chain) and key.
#[derive(Clone)]
pub(crate) struct Identity {
    acceptor: TlsAcceptor,
    /// The certificate clients are to trust.
    pub(crate) cert: PathBuf,
    /// Whether the harness made it (and wrote `cert`) itself.
    pub(crate) made: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.cert.display())
    }
}

impl Identity {
    /// The certificate chain and the private key in the PEM files `cert` and `key`; why not,
    /// in one line, when they do not make a TLS server.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|iter| iter.collect::<Result<_, _>>())
            .map_err(|e| {
                format!(
                    "cannot read the TLS certificate {}: {e}; give a PEM file of certificates",
                    cert.display()
                )
            })?;
        if chain.is_empty() {
            return Err(format!(
                "the TLS certificate file {} holds no certificate: give a PEM file of certificates",
                cert.display()
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!(
                "cannot read the TLS key {}: {e}; give the certificate's private key as a PEM file",
                key.display()
            )
        })?;
        let acceptor = acceptor(chain, private).map_err(|e| {
            format!(
                "the TLS certificate {} and key {} do not make a TLS server: {e}",
                cert.display(),
                key.display()
            )
        })?;
        Ok(Identity {
            acceptor,
            cert: cert.to_owned(),
            made: false,
        })
    }

    /// A throwaway self-signed certificate for localhost, 127.0.0.1 and ::1, its PEM written
    /// to the file `cert`.
    pub(crate) fn throwaway(cert: &Path) -> Result<Identity, String> {
        let names = ["localhost", "127.0.0.1", "::1"].map(str::to_owned);
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot make a TLS certificate: {e}"))?;
        std::fs::write(cert, made.cert.pem())
            .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
        let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
        let acceptor = acceptor(vec![made.cert.der().clone()], key.into())
            .map_err(|e| format!("cannot use the TLS certificate it made: {e}"))?;
        Ok(Identity {
            acceptor,
            cert: cert.to_owned(),
            made: true,
        })
    }

    /// Accepts the TLS handshake of the client on `client`, whose first bytes `hello` (the
    /// start of its ClientHello) were read already. The caller bounds how long it may take.
    pub(crate) async fn accept<C>(&self, client: C, hello: Vec<u8>) -> std::io::Result<Accepted<C>>
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        self.acceptor.accept(Replayed::new(hello, client)).await
    }
}

/// Which side of TLS ended on both sides ([`end_both`]) failed: its handshake's error, or
/// `None` when it did not finish in time.
pub(crate) enum SideFailed {
    Client(Option<std::io::Error>),
    Server(Option<std::io::Error>),
}

/// TLS ended on both sides of a relay, both handshakes at once, each within `limit`: the
/// client's accepted with `identity` (its ClientHello `hello`, read already, handed back), the
/// server's made with `tls`. The first side to fail ends both.
pub(crate) async fn end_both<C, S>(
    (identity, client, hello): (&Identity, C, Vec<u8>),
    (tls, server): (&super::Tls, S),
    limit: std::time::Duration,
) -> Result<(Accepted<C>, tokio_rustls::client::TlsStream<S>), SideFailed>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let accept = async {
        match tokio::time::timeout(limit, identity.accept(client, hello)).await {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => Err(SideFailed::Client(Some(e))),
            Err(_) => Err(SideFailed::Client(None)),
        }
    };
    let connect = async {
        match tokio::time::timeout(limit, tls.connect(server)).await {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => Err(SideFailed::Server(Some(e))),
            Err(_) => Err(SideFailed::Server(None)),
        }
    };
    tokio::try_join!(accept, connect)
}

/// A TLS server with this certificate chain and key.
fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, rustls::Error> {
    // ring, deprecated in rustls 0.23.48 for want of post-quantum key exchange, which a
    // test harness does not need; aws-lc-rs would need a C toolchain.
    #[allow(
        deprecated,
        reason = "ring's provider is enough for a test harness, and builds without C"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Whether `bytes` (a client's bytes at a turn) begin a TLS ClientHello: a handshake record,
/// byte 0x16, then version 3 and a minor version up to 4 (SSL 3.0 to TLS 1.3). `None` while
/// too few bytes have come to tell.
pub(crate) fn client_hello(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [0x16, 0x03, minor, ..] => Some(*minor <= 0x04),
        [] | [0x16] | [0x16, 0x03] => None,
        _ => Some(false),
    }
}

/// A stream that gives bytes read from it already first, then the rest of it.
pub(crate) struct Replayed<S> {
    first: Vec<u8>,
    given: usize,
    inner: S,
}

impl<S> Replayed<S> {
    pub(crate) fn new(first: Vec<u8>, inner: S) -> Self {
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
        let made = Identity::throwaway(&dir.path().join("cert.pem")).unwrap();
        assert!(made.made);
        let pem = std::fs::read_to_string(&made.cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate\n").unwrap();
        let Err(e) = Identity::load(&not_pem, &not_pem) else {
            panic!("a file of no certificate is refused");
        };
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("holds no certificate"), "{e}");
    }
}

//! STARTTLS through the recording proxy. Once a client starts TLS mid-conversation, all that
//! passes is encrypted, and a recording of it is useless. So when the client's bytes at a
//! turn begin a TLS ClientHello, the proxy ends TLS on both sides: it accepts the client's
//! handshake itself (with the harness's TLS server side, `tls::server`: the certificate
//! given, or a throwaway one it makes for localhost, whose PEM it writes for the client to
//! trust), shakes hands with the server as a client (the same settings as a run's
//! `.tls(...)`), and goes on recording the plaintext. The ClientHello, already read to tell
//! it apart, is handed back to the TLS side first.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{TrafficError, error};
use crate::tls::server::{Accepted, Identity, SideFailed, end_both};
use crate::tls::{Tls, handshake_failure};

pub(super) use crate::tls::server::client_hello;

/// The file in the output folder that holds the throwaway certificate, for clients to trust;
/// its name begins with a dot, so a run on the folder's blobs skips it.
pub(super) const THROWAWAY_CERT: &str = ".capture-cert.pem";

/// How long each side's handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate and key in the PEM files `cert` and `key`, as the proxy's own side.
pub(super) fn load(cert: &Path, key: &Path) -> Result<Identity, TrafficError> {
    Identity::load(cert, key).map_err(error)
}

/// A throwaway certificate for localhost, written to `out` ([`THROWAWAY_CERT`]).
pub(super) fn throwaway(out: &Path) -> Result<Identity, TrafficError> {
    Identity::throwaway(&out.join(THROWAWAY_CERT)).map_err(error)
}

/// Both sides of the proxy's TLS: its own toward the client, and its handshake with the
/// server.
#[derive(Clone)]
pub(super) struct Starttls {
    identity: Identity,
    upstream: Tls,
}

/// The client's side, once TLS is up.
pub(super) type ClientTls<C> = Accepted<C>;

/// The server's side, once TLS is up.
pub(super) type ServerTls<S> = tokio_rustls::client::TlsStream<S>;

impl Starttls {
    /// Both sides of TLS: `identity` toward the client, `upstream` toward the server.
    pub(super) fn new(identity: &Identity, upstream: &Tls) -> Starttls {
        Starttls {
            identity: identity.clone(),
            upstream: upstream.clone(),
        }
    }

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
        let both = (&self.identity, client, hello);
        end_both(both, (&self.upstream, server), HANDSHAKE_TIMEOUT)
            .await
            .map_err(|failed| match failed {
                SideFailed::Client(Some(e)) => format!(
                    "the client's handshake with the proxy failed: {e}; the client must trust \
                     the proxy's certificate"
                ),
                SideFailed::Client(None) => {
                    "the client did not finish its handshake in 10 s".to_owned()
                }
                SideFailed::Server(Some(e)) => format!(
                    "with the server, {}; check --tls-ca, --tls-insecure and --tls-server-name",
                    handshake_failure(&e)
                ),
                SideFailed::Server(None) => {
                    "the server did not finish its handshake in 10 s".to_owned()
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throwaway_certificate_is_a_dot_file_of_the_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let made = throwaway(dir.path()).unwrap();
        assert!(made.made);
        assert_eq!(made.cert, dir.path().join(THROWAWAY_CERT));
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate\n").unwrap();
        let Err(e) = load(&not_pem, &not_pem) else {
            panic!("a file of no certificate is refused");
        };
        assert!(e.to_string().contains("holds no certificate"), "{e}");
    }
}

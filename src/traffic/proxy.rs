//! A recording proxy: clients connect to it, it connects each to the real server and passes
//! bytes both ways unchanged, and keeps what each client sent. Each connection becomes one
//! blob, written when it closes (or when the proxy stops, with what it has so far). Where the
//! client, at the start or after a line end, sent more only after the server had spoken (a
//! greeting, an answer it waited for), the blob is a conversation that waits for as many
//! bytes there (for HTTP/2 and WebSocket, for the frame or the `101` head instead). What the server answered is kept in the file too (`#~ heard` lines, never
//! sent), so a recorded blob shows both sides. A client that starts TLS at such a turn
//! (STARTTLS) is recorded inside TLS when the proxy has TLS settings (`starttls`), and
//! otherwise passed through with a warning that the rest of its connection is not recorded.
//! Each connection is a task of its own (`connection`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::connection::{Kept, Warnings, lock, pass};
use super::starttls::{self, Starttls};
use super::{TrafficError, blob_file, blob_name, error};
use crate::tls::server::Identity;
use crate::tls::{Tls, TlsOptions};

/// What a recording session wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Client connections passed through.
    pub connections: usize,
    /// Bytes the clients sent, in all.
    pub bytes: u64,
    /// The blob files written, in the order their connections began.
    pub files: Vec<PathBuf>,
}

/// A proxy bound to its listening address.
pub struct RecordingProxy {
    listener: TcpListener,
    upstream: SocketAddr,
    out: PathBuf,
    /// The handshake with the server, when a client starts TLS.
    tls: Option<Tls>,
    /// The proxy's own side of TLS, toward the client.
    identity: Option<Identity>,
    warnings: Warnings,
}

impl RecordingProxy {
    /// Listens on `listen` (port 0 picks a free port) for clients to pass to `upstream`;
    /// blobs go to `out` (created if missing).
    pub async fn bind(
        listen: SocketAddr,
        upstream: SocketAddr,
        out: impl AsRef<Path>,
    ) -> Result<Self, TrafficError> {
        let out = out.as_ref().to_path_buf();
        if out.exists() && !out.is_dir() {
            return Err(error(format!(
                "{} is a file, not a folder: give --out a folder for the blobs (it is made if missing)",
                out.display()
            )));
        }
        std::fs::create_dir_all(&out)
            .map_err(|e| error(format!("cannot create {}: {e}", out.display())))?;
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            error(format!(
                "cannot listen on {listen}: {e}; pick a free address (port 0 picks one)"
            ))
        })?;
        Ok(RecordingProxy {
            listener,
            upstream,
            out,
            tls: None,
            identity: None,
            warnings: Warnings::default(),
        })
    }

    /// Records inside TLS too, when a client starts it mid-conversation (STARTTLS). Where the
    /// client's bytes at a turn begin a TLS handshake, the proxy accepts it itself, starts TLS
    /// with the server as `options` say (whom to trust; the server name, by default the
    /// upstream address), marks the blob `#~ tls` there and goes on recording the plaintext
    /// both ways. The client is to trust the proxy's certificate: the one given with
    /// [`tls_identity`](Self::tls_identity), or else a throwaway one for localhost,
    /// 127.0.0.1 and ::1, made now and written to `.capture-cert.pem` in the output folder
    /// (a dot file, so a run on the folder's blobs skips it), as
    /// [`tls_certificate`](Self::tls_certificate) says. Without this, a client that starts
    /// TLS is passed through, and the rest of its connection is not recorded.
    ///
    /// ```no_run
    /// # async fn record() -> Result<(), stutterfuzz::traffic::TrafficError> {
    /// use stutterfuzz::{TlsOptions, traffic::RecordingProxy};
    /// let proxy = RecordingProxy::bind(
    ///     "127.0.0.1:7025".parse().unwrap(),
    ///     "127.0.0.1:25".parse().unwrap(),
    ///     "fixtures/smtp",
    /// )
    /// .await?
    /// .tls(TlsOptions::with_ca("test-ca.pem"))?
    /// .on_warning(|warning| eprintln!("{warning}"));
    /// println!("clients are to trust {}", proxy.tls_certificate().unwrap().display());
    /// # Ok(())
    /// # }
    /// # let _ = record;
    /// ```
    pub fn tls(mut self, options: TlsOptions) -> Result<Self, TrafficError> {
        let upstream = Tls::new(&options, &self.upstream.ip().to_string())
            .map_err(|e| error(e.to_string()))?;
        if self.identity.is_none() {
            self.identity = Some(starttls::throwaway(&self.out)?);
        }
        self.tls = Some(upstream);
        Ok(self)
    }

    /// The certificate (with its chain) and its private key, PEM files, that the proxy shows
    /// clients starting TLS through it, instead of a throwaway one; before or after
    /// [`tls`](Self::tls).
    pub fn tls_identity(
        mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TrafficError> {
        let identity = starttls::load(cert.as_ref(), key.as_ref())?;
        if let Some(made) = self.identity.replace(identity).filter(|old| old.made) {
            let _ = std::fs::remove_file(made.cert);
        }
        Ok(self)
    }

    /// Hears the proxy's warnings, each one line that names its connection: a client that
    /// started TLS without [`tls`](Self::tls) given, so the rest of its connection is not
    /// recorded; a TLS handshake that failed.
    pub fn on_warning(mut self, callback: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.warnings = Warnings(Some(Arc::new(callback)));
        self
    }

    /// The certificate clients that start TLS through the proxy are to trust; `None` without
    /// [`tls`](Self::tls).
    pub fn tls_certificate(&self) -> Option<&Path> {
        self.tls.as_ref()?;
        self.identity
            .as_ref()
            .map(|identity| identity.cert.as_path())
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Passes clients through until `stop` completes; then writes every connection still open
    /// with what it sent so far.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<Recorded, TrafficError> {
        let mut tasks: JoinSet<Kept> = JoinSet::new();
        let mut open: Vec<Kept> = Vec::new();
        let mut recorded = Recorded::default();
        let mut done: Vec<Kept> = Vec::new();
        let starttls = self.tls.as_ref().zip(self.identity.as_ref());
        let starttls = starttls.map(|(upstream, identity)| Starttls::new(identity, upstream));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                accepted = self.listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    recorded.connections += 1;
                    let kept: Kept = (recorded.connections, Arc::default());
                    open.push(kept.clone());
                    let warnings = self.warnings.clone();
                    tasks.spawn(pass(client, self.upstream, starttls.clone(), kept, warnings));
                }
                Some(Ok(kept)) = tasks.join_next(), if !tasks.is_empty() => {
                    open.retain(|(n, _)| *n != kept.0);
                    done.push(kept);
                    // Written as each connection closes, so a killed proxy loses none.
                    write(&self.out, &mut done, &mut recorded)?;
                }
            }
        }
        tasks.abort_all();
        done.extend(open);
        write(&self.out, &mut done, &mut recorded)?;
        recorded.files.sort();
        Ok(recorded)
    }
}

/// Writes the finished connections that sent something, and forgets them.
fn write(out: &Path, done: &mut Vec<Kept>, recorded: &mut Recorded) -> Result<(), TrafficError> {
    for (number, recording) in done.drain(..) {
        let recording = std::mem::take(&mut *lock(&recording));
        if recording.bytes.is_empty() && recording.waits.is_empty() {
            continue;
        }
        let path = out.join(blob_name(number, &recording.bytes));
        let file = blob_file(&recording.bytes, &recording.waits, &recording.heard);
        std::fs::write(&path, file)
            .map_err(|e| error(format!("cannot write {}: {e}", path.display())))?;
        recorded.bytes += recording.bytes.len() as u64;
        recorded.files.push(path);
    }
    Ok(())
}

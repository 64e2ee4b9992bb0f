//! A recording proxy: clients connect to it, it connects each to the real server and passes
//! bytes both ways unchanged, and keeps what each client sent. Each connection becomes one
//! blob, written when it closes (or when the proxy stops, with what it has so far). Where the
//! client, at the start or after a line end, sent more only after the server had spoken (a
//! greeting, an answer it waited for), the blob is a conversation that waits for as many
//! bytes there. What the server answered is kept in the file too (`#~ heard` lines, never
//! sent), so a recorded blob shows both sides. A client that starts TLS at such a turn
//! (STARTTLS) is recorded inside TLS when the proxy has TLS settings (`starttls`), and
//! otherwise passed through with a warning that the rest of its connection is not recorded.
//!
//! Each connection is one task that owns both sockets: the two directions run side by side
//! in it, and when the client starts TLS both stop, so that the same relay can go on over
//! the TLS sessions.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::starttls::{Identity, Starttls, client_hello};
use super::{TrafficError, blob_name, error};
use crate::corpus::{RecordedAnswer, WaitFor, WaitPoint, can_wait_at, write_conversation};
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

/// What one client connection sent so far, and where it waited for the server.
#[derive(Default)]
struct Recording {
    bytes: Vec<u8>,
    waits: Vec<WaitPoint>,
    heard: Vec<RecordedAnswer>,
    /// The bytes the server sent in all (inside TLS, the plaintext).
    answered: u64,
    /// `answered` at the last turn.
    answered_at_turn: u64,
    /// The rest of the connection is encrypted: passed on, not recorded.
    unrecorded: bool,
}

impl Recording {
    /// The server sent `bytes` now: after the client's bytes so far.
    fn heard(&mut self, bytes: &[u8]) {
        if !self.unrecorded {
            self.answered += bytes.len() as u64;
            RecordedAnswer::add(&mut self.heard, self.bytes.len(), bytes);
        }
    }

    /// Whether the client's next bytes come at a turn: the server spoke since the client's
    /// last bytes (or before any), which ended a line or are binary, so the client waited for
    /// it. (A text client's pause mid-line is no turn.)
    fn at_turn(&self) -> bool {
        !self.unrecorded
            && self.answered > self.answered_at_turn
            && can_wait_at(&self.bytes, self.bytes.len())
    }

    /// The client sent `bytes` now: a wait for the server before them, at a turn.
    fn sent(&mut self, bytes: &[u8]) {
        if self.at_turn() {
            self.wait(WaitFor::Bytes(self.answered));
            self.answered_at_turn = self.answered;
        }
        if !self.unrecorded {
            self.bytes.extend_from_slice(bytes);
        }
    }

    fn wait(&mut self, until: WaitFor) {
        let at = self.bytes.len();
        self.waits.push(WaitPoint { at, until });
    }
}

fn lock(recording: &Mutex<Recording>) -> MutexGuard<'_, Recording> {
    recording.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection: its number (in the order they began) and its recording.
type Kept = (usize, Arc<Mutex<Recording>>);

/// The user's callback for the proxy's warnings.
type WarningHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the proxy's warnings go: the user's callback, if any.
#[derive(Clone, Default)]
struct Warnings(Option<WarningHook>);

impl Warnings {
    /// Connection `number` warns: `what`.
    fn say(&self, number: usize, what: &str) {
        if let Some(callback) = &self.0 {
            callback(&format!("connection {number}: {what}"));
        }
    }
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
            self.identity = Some(Identity::throwaway(&self.out)?);
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
        let identity = Identity::load(cert.as_ref(), key.as_ref())?;
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
        let starttls = starttls.map(|(upstream, identity)| identity.starttls(upstream));
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
        let file = if recording.waits.is_empty() && recording.heard.is_empty() {
            recording.bytes.clone()
        } else {
            write_conversation(&recording.bytes, &recording.waits, &recording.heard)
        };
        std::fs::write(&path, file)
            .map_err(|e| error(format!("cannot write {}: {e}", path.display())))?;
        recorded.bytes += recording.bytes.len() as u64;
        recorded.files.push(path);
    }
    Ok(())
}

/// What the client's bytes at a turn are looked at for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AtTurn {
    /// A TLS ClientHello ends the relay, for TLS to start on both sides.
    Upgrade,
    /// A TLS ClientHello is passed on, with a warning that the rest goes unrecorded.
    Warn,
    /// Nothing: TLS is up already.
    Nothing,
}

/// How a relay ended.
enum Relayed {
    /// Both sides are done.
    Closed,
    /// The client began a TLS handshake at a turn: the bytes read of it, not passed on.
    Hello(Vec<u8>),
}

/// Passes one client to the server and back, keeping what the client sent, a wait for the
/// server wherever the client sent more after the server had spoken (its turns), and, with
/// `starttls`, the plaintext of both sides once the client starts TLS at a turn.
async fn pass(
    client: TcpStream,
    upstream: SocketAddr,
    starttls: Option<Starttls>,
    kept: Kept,
    warnings: Warnings,
) -> Kept {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return kept; // the client sees its connection closed
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let at_turn = match starttls {
        Some(_) => AtTurn::Upgrade,
        None => AtTurn::Warn,
    };
    let (ended, client, server) = relay(client, server, (&kept, &warnings), at_turn).await;
    let (Relayed::Hello(hello), Some(starttls)) = (ended, starttls) else {
        return kept;
    };
    match starttls.upgrade(client, server, hello).await {
        Ok((client, server)) => {
            relay(client, server, (&kept, &warnings), AtTurn::Nothing).await;
        }
        Err(why) => {
            let at = lock(&kept.1).bytes.len();
            warnings.say(kept.0, &format!("TLS after byte {at} did not start: {why}"));
        }
    }
    kept
}

/// Passes bytes both ways between `client` and `server` until both are done, or until the
/// client begins a TLS handshake at a turn (with [`AtTurn::Upgrade`]); gives both streams
/// back.
async fn relay<C, S>(
    client: C,
    server: S,
    connection: (&Kept, &Warnings),
    at_turn: AtTurn,
) -> (Relayed, C, S)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let (mut from_server, mut to_server) = tokio::io::split(server);
    let hello = Notify::new();
    let ended = {
        let up = up(
            &mut from_client,
            &mut to_server,
            connection,
            at_turn,
            &hello,
        );
        let down = down(&mut from_server, &mut to_client, &connection.0.1, &hello);
        tokio::pin!(up, down);
        // When both sides have bytes waiting, the server's go first: an answer read late
        // must not be taken for one that came after the client's next bytes.
        let mut down_done = false;
        let ended = loop {
            tokio::select! {
                biased;
                () = &mut down, if !down_done => down_done = true,
                ended = &mut up => break ended,
            }
        };
        if !down_done {
            down.await;
        }
        ended
    };
    let client = from_client.unsplit(to_client);
    (ended, client, from_server.unsplit(to_server))
}

/// The client's side: what it sends is recorded and passed to the server, until it closes or
/// begins a TLS handshake at a turn (then `hello` stops the other side).
async fn up<R, W>(
    from: &mut R,
    to: &mut W,
    (kept, warnings): (&Kept, &Warnings),
    mut at_turn: AtTurn,
    hello: &Notify,
) -> Relayed
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = if at_turn == AtTurn::Nothing {
            n
        } else {
            enough_to_tell(from, &mut buf, n, &kept.1).await
        };
        match sent(kept, warnings, &buf[..n], at_turn) {
            Some(next) => at_turn = next,
            None => {
                hello.notify_one();
                return Relayed::Hello(buf[..n].to_vec());
            }
        }
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    Relayed::Closed
}

/// The bytes in `buf`, `n` of them read: at a turn, more read until they tell whether they
/// begin a TLS ClientHello (a client starting TLS sends its whole first record at once; one
/// that sends no more within a second is taken for no TLS client).
async fn enough_to_tell<R: AsyncRead + Unpin>(
    from: &mut R,
    buf: &mut [u8],
    mut n: usize,
    recording: &Mutex<Recording>,
) -> usize {
    while client_hello(&buf[..n]).is_none() && lock(recording).at_turn() {
        let more = tokio::time::timeout(Duration::from_secs(1), from.read(&mut buf[n..]));
        match more.await {
            Ok(Ok(more)) if more > 0 => n += more,
            _ => break,
        }
    }
    n
}

/// Records what the client sent; `None` when it begins a TLS ClientHello at a turn and
/// `at_turn` says to start TLS (the TLS mark recorded), else what to look for at the next
/// turns.
fn sent(kept: &Kept, warnings: &Warnings, bytes: &[u8], at_turn: AtTurn) -> Option<AtTurn> {
    let mut recording = lock(&kept.1);
    let hello =
        at_turn != AtTurn::Nothing && recording.at_turn() && client_hello(bytes) == Some(true);
    if !hello {
        recording.sent(bytes);
        return Some(at_turn);
    }
    // The wait for the server's yes, as at any turn.
    recording.sent(&[]);
    if at_turn == AtTurn::Upgrade {
        recording.wait(WaitFor::Tls);
        return None;
    }
    recording.unrecorded = true;
    let at = recording.bytes.len();
    drop(recording);
    let what = format!(
        "the client started TLS after byte {at}; the rest of this connection is encrypted and \
         cannot be recorded (its blob keeps what came before): give the proxy TLS settings \
         (--tls-ca FILE or --tls-insecure; RecordingProxy::tls) to record inside TLS"
    );
    warnings.say(kept.0, &what);
    Some(AtTurn::Nothing)
}

/// The server's side: what it sends is recorded and passed to the client, until it closes or
/// `hello` says the client began a TLS handshake.
async fn down<R, W>(from: &mut R, to: &mut W, recording: &Mutex<Recording>, hello: &Notify)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            biased;
            () = hello.notified() => return,
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        // Recorded before the client can see it: a client that answers at once must find
        // its turn recorded.
        lock(recording).heard(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

//! A recording proxy: clients connect to it, it connects each to the real server and passes
//! bytes both ways unchanged, and keeps what each client sent. Each connection becomes one
//! blob, written when it closes (or when the proxy stops, with what it has so far). Where the
//! client, at the start or after a line end, sent more only after the server had spoken (a
//! greeting, an answer it waited for), the blob is a conversation that waits for as many
//! bytes there. What the server answered is kept in the file too (`#~ heard` lines, never
//! sent), so a recorded blob shows both sides.
//!
//! Each connection is one task that owns both sockets, the two directions side by side in
//! it, over any kind of stream.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{TrafficError, blob_name, error};
use crate::corpus::{RecordedAnswer, WaitFor, WaitPoint, can_wait_at, write_conversation};

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
    /// The bytes the server sent in all.
    answered: u64,
    /// `answered` at the last turn.
    answered_at_turn: u64,
}

impl Recording {
    /// The server sent `bytes` now: after the client's bytes so far.
    fn heard(&mut self, bytes: &[u8]) {
        self.answered += bytes.len() as u64;
        RecordedAnswer::add(&mut self.heard, self.bytes.len(), bytes);
    }

    /// Whether the client's next bytes come at a turn: the server spoke since the client's
    /// last bytes (or before any), which ended a line or are binary, so the client waited for
    /// it. (A text client's pause mid-line is no turn.)
    fn at_turn(&self) -> bool {
        self.answered > self.answered_at_turn && can_wait_at(&self.bytes, self.bytes.len())
    }

    /// The client sent `bytes` now: a wait for the server before them, at a turn.
    fn sent(&mut self, bytes: &[u8]) {
        if self.at_turn() {
            let at = self.bytes.len();
            let until = WaitFor::Bytes(self.answered);
            self.waits.push(WaitPoint { at, until });
            self.answered_at_turn = self.answered;
        }
        self.bytes.extend_from_slice(bytes);
    }
}

fn lock(recording: &Mutex<Recording>) -> MutexGuard<'_, Recording> {
    recording.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection: its number (in the order they began) and its recording.
type Kept = (usize, Arc<Mutex<Recording>>);

/// A proxy bound to its listening address.
pub struct RecordingProxy {
    listener: TcpListener,
    upstream: SocketAddr,
    out: PathBuf,
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
        })
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
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                accepted = self.listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    recorded.connections += 1;
                    let kept: Kept = (recorded.connections, Arc::default());
                    open.push(kept.clone());
                    tasks.spawn(pass(client, self.upstream, kept));
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

/// Passes one client to the server and back, keeping what the client sent, and a wait for
/// the server wherever the client sent more after the server had spoken (its turns).
async fn pass(client: TcpStream, upstream: SocketAddr, kept: Kept) -> Kept {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return kept; // the client sees its connection closed
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    relay(client, server, &kept.1).await;
    kept
}

/// Passes bytes both ways between `client` and `server` until both are done, and gives both
/// streams back.
async fn relay<C, S>(client: C, server: S, recording: &Mutex<Recording>) -> (C, S)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let (mut from_server, mut to_server) = tokio::io::split(server);
    tokio::join!(
        up(&mut from_client, &mut to_server, recording),
        down(&mut from_server, &mut to_client, recording),
    );
    let client = from_client.unsplit(to_client);
    (client, from_server.unsplit(to_server))
}

/// The client's side: what it sends is recorded and passed to the server, until it closes.
async fn up<R, W>(from: &mut R, to: &mut W, recording: &Mutex<Recording>)
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
        lock(recording).sent(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The server's side: what it sends is recorded and passed to the client, until it closes.
async fn down<R, W>(from: &mut R, to: &mut W, recording: &Mutex<Recording>)
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
        // Recorded before the client can see it: a client that answers at once must find
        // its turn recorded.
        lock(recording).heard(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

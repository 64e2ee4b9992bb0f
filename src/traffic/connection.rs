//! One client connection through the recording proxy: its recording so far, and the relay
//! that passes its bytes both ways. The connection is one task that owns both streams, the
//! two directions side by side in it; when the client starts TLS at a turn both stop, so that
//! the same relay can go on over the TLS sessions (`starttls`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::starttls::{Starttls, client_hello};
use crate::corpus::{RecordedAnswer, WaitFor, WaitPoint, can_wait_at};

/// What one client connection sent so far, and where it waited for the server.
#[derive(Default)]
pub(super) struct Recording {
    pub(super) bytes: Vec<u8>,
    pub(super) waits: Vec<WaitPoint>,
    pub(super) heard: Vec<RecordedAnswer>,
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

/// The recording, even if a task panicked holding it.
pub(super) fn lock(recording: &Mutex<Recording>) -> MutexGuard<'_, Recording> {
    recording.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection: its number (in the order they began) and its recording.
pub(super) type Kept = (usize, Arc<Mutex<Recording>>);

/// The user's callback for the proxy's warnings.
pub(super) type WarningHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the proxy's warnings go: the user's callback, if any.
#[derive(Clone, Default)]
pub(super) struct Warnings(pub(super) Option<WarningHook>);

impl Warnings {
    /// Connection `number` warns: `what`.
    fn say(&self, number: usize, what: &str) {
        if let Some(callback) = &self.0 {
            callback(&format!("connection {number}: {what}"));
        }
    }
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
pub(super) async fn pass(
    client: TcpStream,
    upstream: SocketAddr,
    starttls: Option<Starttls>,
    kept: Kept,
    warnings: Warnings,
) -> Kept {
    let server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        Err(e) => {
            // The client sees its connection closed; the user is told why.
            warnings.say(
                kept.0,
                &format!("the server at {upstream} could not be reached ({e}), so nothing was recorded: check --upstream and that the server runs"),
            );
            return kept;
        }
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
            let mut recording = lock(&kept.1);
            // No TLS came of the mark: the blob ends with the wait for the yes.
            if recording
                .waits
                .last()
                .is_some_and(|w| w.until == WaitFor::Tls)
            {
                recording.waits.pop();
            }
            let at = recording.bytes.len();
            drop(recording);
            warnings.say(
                kept.0,
                &format!("TLS after byte {at} did not start, so the blob ends there: {why}"),
            );
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

//! The relay to a real server: the client's bytes passed on as they come (cut too, when
//! asked), the server's answers passed back cut. Given TLS settings for the server, a client
//! that starts TLS mid-conversation (STARTTLS: its bytes begin a TLS ClientHello) ends TLS on
//! both sides, as the recording proxy does: the harness accepts the client's handshake with
//! the run's certificate and shakes hands with the server itself, and relays the plaintext,
//! the answers inside TLS cut as in clear text, each chunk its own record.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;

use super::splitter::{Side, Splitter};
use crate::engine::{Reader, SocketFd, Stream, Writer, halves};
use crate::tls::server::{Identity, SideFailed, client_hello, end_both};
use crate::tls::{Tls, handshake_failure};

/// How long each side's handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// How long a client's first bytes at a turn may take to tell whether they begin a TLS
/// ClientHello (a client starting TLS sends its whole first record at once).
const TELL: Duration = Duration::from_secs(1);

/// One connection's two halves and its socket: plain, or TLS once it started.
struct Line {
    from: Reader,
    to: Writer,
    fd: SocketFd,
}

impl Line {
    fn of(side: Side) -> Line {
        Line {
            from: side.opened.reader,
            to: side.opened.writer,
            fd: side.opened.fd,
        }
    }
}

/// What went wrong on a relayed connection, in words.
pub(super) enum Trouble {
    /// The server could not be reached.
    Unreachable(String),
    /// The client started TLS, and the handshake with it or with the server failed.
    NoTls(String),
}

/// Relays the client's bytes to the server (cut too, when asked) and the server's answers
/// back cut; with `starttls`, TLS ended on both sides where the client starts it. Why the
/// server could not be reached, or TLS could not start, if so.
pub(super) async fn relay(
    client: Side,
    upstream: SocketAddr,
    (to_client, to_server): (&mut Splitter, &mut Splitter),
    starttls: Option<(&Identity, &Tls)>,
) -> Option<Trouble> {
    let unreachable = |why: String| Some(Trouble::Unreachable(why));
    let upstream = match TcpStream::connect(upstream).await {
        Ok(stream) => stream,
        Err(e) => return unreachable(format!("cannot reach the server at {upstream}: {e}")),
    };
    let Ok(server) = Side::of(Stream::Tcp(upstream)).await else {
        return unreachable("the connection to the server could not be opened".to_owned());
    };
    // The server's socket of this connection, as the server direction watches it.
    to_server.ends = server.ends;
    let (mut client, mut server) = (Line::of(client), Line::of(server));
    let hello = Hello::default();
    let splitters = (&mut *to_client, &mut *to_server);
    let started = both_ways(
        &mut client,
        &mut server,
        splitters,
        starttls.is_some(),
        &hello,
    )
    .await;
    let (Some(first), Some((identity, tls))) = (started, starttls) else {
        return None;
    };
    let (mut client, mut server) = match upgrade(client, server, first, identity, tls).await {
        Ok(both) => both,
        Err(why) => return Some(Trouble::NoTls(why)),
    };
    to_client.tls_starts();
    to_server.tls_starts();
    both_ways(
        &mut client,
        &mut server,
        (to_client, to_server),
        false,
        &hello,
    )
    .await;
    None
}

/// Both directions of a relay side by side, until both are done or, when `watch`, the
/// client begins a TLS handshake at a turn: its first bytes then.
async fn both_ways(
    client: &mut Line,
    server: &mut Line,
    (to_client, to_server): (&mut Splitter, &mut Splitter),
    watch: bool,
    hello: &Hello,
) -> Option<Vec<u8>> {
    let (started, ()) = tokio::join!(
        up(
            &mut client.from,
            (&mut server.to, server.fd),
            to_server,
            watch,
            hello
        ),
        down(
            &mut server.from,
            (&mut client.to, client.fd),
            to_client,
            hello
        ),
    );
    started
}

/// What the two directions of a relay share while the client may start TLS: how many
/// answers the server sent (the client's next bytes come at a turn when it sent more since
/// the client's last ones), and the signal that the client began a TLS handshake.
#[derive(Default)]
struct Hello {
    answers: AtomicU64,
    began: Notify,
}

/// The client's bytes to the server, cut by `splitter`, until the client is done (then the
/// end is passed on); with `watch`, until its bytes at a turn begin a TLS ClientHello, which
/// are given back (and `hello` stops the other direction).
async fn up(
    from: &mut Reader,
    (to, fd): (&mut Writer, SocketFd),
    splitter: &mut Splitter,
    watch: bool,
    hello: &Hello,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut answers_before = 0;
    loop {
        let mut n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let answers = hello.answers.load(Ordering::Acquire);
        let at_turn = watch && answers > answers_before;
        answers_before = answers;
        while at_turn && client_hello(&buf[..n]).is_none() {
            match timeout(TELL, from.read(&mut buf[n..])).await {
                Ok(Ok(more @ 1..)) => n += more,
                _ => break,
            }
        }
        if at_turn && client_hello(&buf[..n]) == Some(true) {
            hello.began.notify_one();
            return Some(buf[..n].to_vec());
        }
        if splitter.send(to, &fd, &buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    None
}

/// The server's answers to the client, cut by `splitter`, until the server is done (then the
/// end is passed on) or `hello` says the client began a TLS handshake.
async fn down(
    from: &mut Reader,
    (to, fd): (&mut Writer, SocketFd),
    splitter: &mut Splitter,
    hello: &Hello,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            biased;
            () = hello.began.notified() => return,
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        // Counted before the client can see it: a client that answers at once must find
        // its turn.
        hello.answers.fetch_add(n as u64, Ordering::Release);
        if splitter.send(to, &fd, &buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// TLS on both sides: the client's handshake, whose first bytes `first` were read already,
/// accepted with `identity`; the harness's own with the server, as `tls` says.
async fn upgrade(
    client: Line,
    server: Line,
    first: Vec<u8>,
    identity: &Identity,
    tls: &Tls,
) -> Result<(Line, Line), String> {
    let (client_fd, server_fd) = (client.fd, server.fd);
    let both = (identity, client.from.unsplit(client.to), first);
    let ended = end_both(both, (tls, server.from.unsplit(server.to)), HANDSHAKE).await;
    let (client_tls, server_tls) = ended.map_err(|failed| match failed {
        SideFailed::Client(Some(e)) => format!(
            "the client's TLS handshake with the harness failed: {e}; the client must trust {} (give it {{cert}} or STUTTERFUZZ_CERT)",
            identity.cert.display()
        ),
        SideFailed::Client(None) => "the client did not finish its TLS handshake in 5 s".to_owned(),
        SideFailed::Server(Some(e)) => format!(
            "TLS with the server: {}; check .tls(...) (--tls-ca, --tls-insecure, --tls-server-name)",
            handshake_failure(&e)
        ),
        SideFailed::Server(None) => "the server did not finish its TLS handshake in 5 s".to_owned(),
    })?;
    let ((from_client, to_client), (from_server, to_server)) =
        (halves(client_tls), halves(server_tls));
    Ok((
        Line {
            from: from_client,
            to: to_client,
            fd: client_fd,
        },
        Line {
            from: from_server,
            to: to_server,
            fd: server_fd,
        },
    ))
}

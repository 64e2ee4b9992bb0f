//! The harness's side of a client's connection: a listener the client under test connects
//! to, which relays its bytes to the real server and cuts the answers into chunks on the way
//! back, or answers as a stand-in with recorded answers, cut the same way.
//!
//! A chunk is written only once the client has read the one before: where the client runs
//! on this machine, its socket's receive queue is watched (sock_diag, as the server's is for
//! a server) and the next chunk waits until it is empty, so each `read()` the client makes
//! returns one chunk. Where it cannot be seen, a short fixed pause stands in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::answers::{Answers, Recorded};
use crate::config::Endpoint;
use crate::engine::{Ends, Opened, Pacing, SocketFd, Stream, Writer, open_stream};

/// How long a stand-in waits for more of the client's bytes, when it has some since its last
/// answer, before it answers anyway (a recording whose answer fell after the next line
/// start, in a binary protocol).
const QUIET: Duration = Duration::from_millis(50);

/// How long the connections may take to finish by themselves once the client is done;
/// then they stop where they are (the client cannot read any more of them).
const SETTLE: Duration = Duration::from_millis(50);

/// Where one direction is cut: offsets into the stream of all its bytes on one connection;
/// empty for bytes sent whole (as they come).
pub(crate) type Cuts = Arc<[usize]>;

/// Where both directions are cut (the client's requests only on the way to a real server).
#[derive(Clone, Debug, Default)]
pub(crate) struct Cutting {
    pub(crate) answers: Cuts,
    pub(crate) requests: Cuts,
}

/// What one connection of the client got.
#[derive(Clone, Debug, Default)]
pub(crate) struct Served {
    /// The recorded conversation it had, for a stand-in.
    pub(crate) conversation: Option<String>,
    /// Every byte written to the client.
    pub(crate) answered: Vec<u8>,
    /// Every byte the client sent.
    pub(crate) requested: Vec<u8>,
    /// Cuts reached, and those the client had read up to before the next chunk went.
    pub(crate) boundaries: u64,
    pub(crate) kept: u64,
    /// The real server could not be reached.
    pub(crate) unreachable: Option<String>,
}

/// A listener serving the connections of one run of the client.
pub(crate) struct Stage {
    addr: Endpoint,
    /// The folder of a Unix socket's path, removed with the stage.
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Vec<Served>>,
}

impl Stage {
    /// Listens on `host` (a free port), or on a Unix socket in a folder of its own when
    /// `unix`, and serves every connection the client makes with `answers`, both directions
    /// cut as `cuts` say.
    pub(crate) async fn open(
        host: std::net::IpAddr,
        unix: bool,
        answers: Arc<Answers>,
        cuts: Cutting,
        pacing: Arc<Pacing>,
    ) -> std::io::Result<Stage> {
        let (listener, addr, dir) = Listener::bind(host, unix).await?;
        // On a Unix socket, the client's unread bytes are our own send queue's.
        let client_pacing = match &addr {
            Endpoint::Unix(_) if crate::platform::SEES_OWN_QUEUE => {
                Arc::new(Pacing::clone(&pacing).by_own_queue())
            }
            _ => pacing.clone(),
        };
        let (stop, mut stopped) = oneshot::channel();
        let (halt, halted) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            let mut order = 0usize;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok(stream) = accepted else { continue };
                        let (answers, cuts) = (answers.clone(), cuts.clone());
                        let pacing = DirectionPacing { to_client: client_pacing.clone(), to_server: pacing.clone() };
                        let halted = halted.clone();
                        let at = order;
                        order += 1;
                        connections.spawn(async move {
                            (at, serve(stream, &answers, cuts, pacing, halted).await)
                        });
                    }
                }
            }
            drop(listener);
            let mut served = Vec::new();
            let deadline = tokio::time::Instant::now() + SETTLE;
            while let Ok(Some(done)) =
                tokio::time::timeout_at(deadline, connections.join_next()).await
            {
                if let Ok(one) = done {
                    served.push(one);
                }
            }
            // The rest stop where they are, and tell what they carried so far.
            let _ = halt.send(true);
            while let Ok(Some(done)) = tokio::time::timeout(SETTLE, connections.join_next()).await {
                if let Ok(one) = done {
                    served.push(one);
                }
            }
            served.sort_by_key(|(at, _)| *at);
            served.into_iter().map(|(_, s)| s).collect()
        });
        Ok(Stage {
            addr,
            _dir: dir,
            stop: Some(stop),
            task,
        })
    }

    /// The address the client is given.
    pub(crate) fn addr(&self) -> &Endpoint {
        &self.addr
    }

    /// Stops accepting, lets the connections finish for a moment, and tells what each got
    /// (in the order the client opened them). A connection still open then is stopped where
    /// it is: the client was done with it.
    pub(crate) async fn close(mut self) -> Vec<Served> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap_or_default()
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The pacing of each direction: the client's side may be a Unix socket.
struct DirectionPacing {
    to_client: Arc<Pacing>,
    to_server: Arc<Pacing>,
}

/// Where the stage listens for the client.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// A free port on `host`, or a Unix socket in a new folder; the address, and the folder.
    async fn bind(
        host: std::net::IpAddr,
        unix: bool,
    ) -> std::io::Result<(Listener, Endpoint, Option<tempfile::TempDir>)> {
        if unix {
            let dir = tempfile::Builder::new().prefix("stutterfuzz-").tempdir()?;
            let path = dir.path().join("harness.sock");
            let listener = UnixListener::bind(&path)?;
            return Ok((Listener::Unix(listener), Endpoint::Unix(path), Some(dir)));
        }
        let listener = TcpListener::bind(SocketAddr::new(host, 0)).await?;
        let addr = listener.local_addr()?;
        Ok((Listener::Tcp(listener), Endpoint::Tcp(addr), None))
    }

    async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| Stream::Tcp(s)),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Stream::Unix(s)),
        }
    }
}

/// A connection's halves, its socket, and where the kernel shows its other end (TCP).
struct Side {
    opened: Opened,
    ends: Option<Ends>,
}

impl Side {
    async fn of(stream: Stream) -> std::io::Result<Side> {
        // The peer's socket, seen from the kernel: its address is our peer's.
        let peer = match &stream {
            Stream::Tcp(tcp) => {
                let _ = tcp.set_nodelay(true);
                tcp.peer_addr().ok()
            }
            Stream::Unix(_) => None,
        };
        let opened = open_stream(stream, None, std::time::Duration::MAX)
            .await
            .map_err(|_| std::io::Error::other("the connection could not be opened"))?;
        let ends = peer
            .zip(opened.local)
            .map(|(server, client)| Ends { server, client });
        Ok(Side { opened, ends })
    }
}

async fn serve(
    client: Stream,
    answers: &Answers,
    cuts: Cutting,
    pacing: DirectionPacing,
    mut halted: watch::Receiver<bool>,
) -> Served {
    let Ok(client) = Side::of(client).await else {
        return Served::default();
    };
    let mut to_client = Splitter::new(cuts.answers, pacing.to_client, client.ends);
    let halt = async move {
        let _ = halted.wait_for(|h| *h).await;
    };
    match answers {
        Answers::Upstream(addr) => {
            let mut to_server = Splitter::new(cuts.requests, pacing.to_server, None);
            let unreachable = tokio::select! {
                unreachable = relay(client, *addr, &mut to_client, &mut to_server) => unreachable,
                () = halt => None,
            };
            let mut served = to_client.served(Some(to_server));
            served.unreachable = unreachable;
            served
        }
        Answers::Recorded(all) => {
            let mut talk = Talk::default();
            tokio::select! {
                () = stand_in(client, all, &mut to_client, &mut talk) => {}
                () = halt => {}
            }
            let mut served = to_client.served(None);
            served.conversation = talk.conversation;
            served.requested = talk.got;
            served
        }
    }
}

/// Relays the client's bytes to the server (cut too, when asked) and the server's answers
/// back cut. Why the server could not be reached, if it could not.
async fn relay(
    client: Side,
    upstream: SocketAddr,
    to_client: &mut Splitter,
    to_server: &mut Splitter,
) -> Option<String> {
    let upstream = match TcpStream::connect(upstream).await {
        Ok(stream) => stream,
        Err(e) => return Some(format!("cannot reach the server at {upstream}: {e}")),
    };
    let Ok(server) = Side::of(Stream::Tcp(upstream)).await else {
        return Some("the connection to the server could not be opened".to_owned());
    };
    // The server's socket of this connection, as the server direction watches it.
    to_server.ends = server.ends;
    let (client, server) = (client.opened, server.opened);
    let (mut from_client, mut client_writer) = (client.reader, client.writer);
    let (mut from_server, mut server_writer) = (server.reader, server.writer);
    tokio::join!(
        pump(&mut from_client, &mut server_writer, server.fd, to_server),
        pump(&mut from_server, &mut client_writer, client.fd, to_client),
    );
    None
}

/// Copies one direction as it comes, cut by `splitter`, and passes on the end.
async fn pump(
    from: &mut crate::engine::Reader,
    to: &mut Writer,
    fd: SocketFd,
    splitter: &mut Splitter,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if splitter.send(to, &fd, &buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// What a stand-in learnt of its client: the conversation it is having, the bytes it sent.
#[derive(Default)]
struct Talk {
    conversation: Option<String>,
    got: Vec<u8>,
}

/// Answers with a recorded conversation: each answer once the client has sent the bytes it
/// followed (or has sent some and then gone quiet), then closes its side.
async fn stand_in(client: Side, all: &[Recorded], splitter: &mut Splitter, talk: &mut Talk) {
    let Opened {
        reader: mut from_client,
        writer: mut to_client,
        fd,
        ..
    } = client.opened;
    let got = &mut talk.got;
    if all.len() > 1 && from_client.read_buf(got).await.unwrap_or(0) == 0 {
        return;
    }
    let Some(conversation) = Recorded::pick(all, got) else {
        return;
    };
    talk.conversation = Some(conversation.name.clone());
    let mut answered_at = 0;
    for heard in &conversation.heard {
        while got.len() < heard.at {
            match timeout(QUIET, from_client.read_buf(got)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) if got.len() > answered_at => break,
                Err(_) => {}
            }
        }
        answered_at = got.len();
        if splitter
            .send(&mut to_client, &fd, &heard.bytes)
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = to_client.shutdown().await;
    let mut rest = [0u8; 4096];
    while let Ok(1..) = from_client.read(&mut rest).await {}
}

/// Writes one direction's bytes cut at the offsets given, pacing each chunk after a cut
/// until the reader (the client, or the server) has read what came before.
struct Splitter {
    cuts: Cuts,
    next: usize,
    pacing: Arc<Pacing>,
    ends: Option<Ends>,
    sent: Vec<u8>,
    boundaries: u64,
    kept: u64,
}

impl Splitter {
    fn new(cuts: Cuts, pacing: Arc<Pacing>, ends: Option<Ends>) -> Self {
        Splitter {
            cuts,
            next: 0,
            pacing,
            ends,
            sent: Vec::new(),
            boundaries: 0,
            kept: 0,
        }
    }

    async fn send(
        &mut self,
        to: &mut Writer,
        fd: &SocketFd,
        mut bytes: &[u8],
    ) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let offset = self.sent.len();
            let n = match self.cuts.get(self.next) {
                Some(&at) => (at - offset).min(bytes.len()),
                None => bytes.len(),
            };
            to.write_all(&bytes[..n]).await?;
            self.sent.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.cuts.get(self.next) == Some(&self.sent.len()) {
                self.next += 1;
                self.boundaries += 1;
                self.pacing.wait_acked(fd).await?;
                if self
                    .pacing
                    .pause(fd, &mut self.ends)
                    .await
                    .is_some_and(|seen| seen.all_read)
                {
                    self.kept += 1;
                }
            }
        }
        Ok(())
    }

    /// What the connection got, with the other direction's cuts counted too.
    fn served(self, requests: Option<Splitter>) -> Served {
        let (requested, boundaries, kept) = match requests {
            Some(r) => (r.sent, r.boundaries, r.kept),
            None => (Vec::new(), 0, 0),
        };
        Served {
            answered: self.sent,
            requested,
            boundaries: self.boundaries + boundaries,
            kept: self.kept + kept,
            ..Served::default()
        }
    }
}

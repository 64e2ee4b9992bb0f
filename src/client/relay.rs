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
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::answers::{Answers, Recorded};
use crate::engine::{Ends, Pacing};

/// How long a stand-in waits for more of the client's bytes, when it has some since its last
/// answer, before it answers anyway (a recording whose answer fell after the next line
/// start, in a binary protocol).
const QUIET: Duration = Duration::from_millis(50);

/// How long the connections may take to finish once the client is done.
const SETTLE: Duration = Duration::from_millis(200);

/// Where the answers are cut: offsets into the stream of all answers of one connection;
/// empty for answers sent whole (as they come).
pub(crate) type Cuts = Arc<[usize]>;

/// What one connection of the client got.
#[derive(Clone, Debug, Default)]
pub(crate) struct Served {
    /// The recorded conversation it had, for a stand-in.
    pub(crate) conversation: Option<String>,
    /// Every byte written to the client.
    pub(crate) answered: Vec<u8>,
    /// Cuts reached, and those the client had read up to before the next chunk went.
    pub(crate) boundaries: u64,
    pub(crate) kept: u64,
    /// The real server could not be reached.
    pub(crate) unreachable: Option<String>,
}

/// A listener serving the connections of one run of the client.
pub(crate) struct Stage {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Vec<Served>>,
}

impl Stage {
    /// Listens on `host` (a free port) and serves every connection the client makes with
    /// `answers`, cut at `cuts`.
    pub(crate) async fn open(
        host: std::net::IpAddr,
        answers: Arc<Answers>,
        cuts: Cuts,
        pacing: Arc<Pacing>,
    ) -> std::io::Result<Stage> {
        let listener = TcpListener::bind(SocketAddr::new(host, 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            let mut order = 0usize;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (answers, cuts, pacing) = (answers.clone(), cuts.clone(), pacing.clone());
                        let at = order;
                        order += 1;
                        connections.spawn(async move { (at, serve(stream, &answers, cuts, pacing).await) });
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
            connections.abort_all();
            while let Some(done) = connections.join_next().await {
                if let Ok(one) = done {
                    served.push(one);
                }
            }
            served.sort_by_key(|(at, _)| *at);
            served.into_iter().map(|(_, s)| s).collect()
        });
        Ok(Stage {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// The address the client is given.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets the connections finish for a moment, and tells what each got
    /// (in the order the client opened them). A connection still open then is closed, with
    /// what it got so far lost: the client was done with it.
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

async fn serve(client: TcpStream, answers: &Answers, cuts: Cuts, pacing: Arc<Pacing>) -> Served {
    let _ = client.set_nodelay(true);
    // The client's socket, seen from the kernel: its address is our peer's.
    let ends = match (client.peer_addr(), client.local_addr()) {
        (Ok(server), Ok(client)) => Some(Ends { server, client }),
        _ => None,
    };
    let splitter = Splitter {
        cuts,
        next: 0,
        pacing,
        ends,
        served: Served::default(),
    };
    match answers {
        Answers::Upstream(addr) => relay(client, *addr, splitter).await,
        Answers::Recorded(all) => stand_in(client, all, splitter).await,
    }
}

/// Relays the client's bytes to the server as they come, and the server's answers back cut.
async fn relay(client: TcpStream, upstream: SocketAddr, mut splitter: Splitter) -> Served {
    let upstream = match TcpStream::connect(upstream).await {
        Ok(stream) => stream,
        Err(e) => {
            splitter.served.unreachable =
                Some(format!("cannot reach the server at {upstream}: {e}"));
            return splitter.served;
        }
    };
    let _ = upstream.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = upstream.into_split();
    let forward = async {
        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
        let _ = to_server.shutdown().await;
    };
    let back = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut buf).await {
            if splitter.send(&mut to_client, &buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    };
    tokio::join!(forward, back);
    splitter.served
}

/// Answers with a recorded conversation: each answer once the client has sent the bytes it
/// followed (or has sent some and then gone quiet), then closes its side.
async fn stand_in(client: TcpStream, all: &[Recorded], mut splitter: Splitter) -> Served {
    let (mut from_client, mut to_client) = client.into_split();
    let mut got = Vec::new();
    if all.len() > 1 && from_client.read_buf(&mut got).await.unwrap_or(0) == 0 {
        return splitter.served;
    }
    let Some(conversation) = Recorded::pick(all, &got) else {
        return splitter.served;
    };
    splitter.served.conversation = Some(conversation.name.clone());
    let mut answered_at = 0;
    for heard in &conversation.heard {
        while got.len() < heard.at {
            match timeout(QUIET, from_client.read_buf(&mut got)).await {
                Ok(Ok(0) | Err(_)) => return splitter.served,
                Ok(Ok(_)) => {}
                Err(_) if got.len() > answered_at => break,
                Err(_) => {}
            }
        }
        answered_at = got.len();
        if splitter.send(&mut to_client, &heard.bytes).await.is_err() {
            return splitter.served;
        }
    }
    let _ = to_client.shutdown().await;
    let mut rest = [0u8; 4096];
    while let Ok(1..) = from_client.read(&mut rest).await {}
    splitter.served
}

/// Writes a connection's answers to the client, cut at the offsets given, pacing each chunk
/// after a cut until the client has read what came before.
struct Splitter {
    cuts: Cuts,
    next: usize,
    pacing: Arc<Pacing>,
    ends: Option<Ends>,
    served: Served,
}

impl Splitter {
    async fn send(&mut self, to: &mut OwnedWriteHalf, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let offset = self.served.answered.len();
            let n = match self.cuts.get(self.next) {
                Some(&at) => (at - offset).min(bytes.len()),
                None => bytes.len(),
            };
            to.write_all(&bytes[..n]).await?;
            self.served.answered.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.cuts.get(self.next) == Some(&self.served.answered.len()) {
                self.next += 1;
                self.served.boundaries += 1;
                self.pacing.wait_acked(to.as_ref()).await?;
                if self
                    .pacing
                    .pause(&mut self.ends)
                    .await
                    .is_some_and(|seen| seen.all_read)
                {
                    self.served.kept += 1;
                }
            }
        }
        Ok(())
    }
}

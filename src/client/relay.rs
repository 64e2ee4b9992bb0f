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

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::answers::Answers;
use super::splitter::{Side, Splitter};
use super::stand_in::{Talk, stand_in};
use super::upstream::{Trouble, relay};
use crate::config::Endpoint;
use crate::engine::{Pacing, Stream};
use crate::tls::Tls;
use crate::tls::server::Identity;

pub(crate) use super::splitter::{Cuts, Served};

/// How long the connections may take to finish by themselves once the client is done;
/// then they stop where they are (the client cannot read any more of them).
const SETTLE: Duration = Duration::from_millis(50);

/// The harness's TLS, for a client that starts it: its own side toward the client, and, for
/// the relay, how it speaks TLS to the real server.
#[derive(Clone, Default)]
pub(crate) struct HarnessTls {
    pub(crate) identity: Option<Identity>,
    pub(crate) upstream: Option<Tls>,
}

impl HarnessTls {
    /// Both sides, when the relay ends a client's TLS (STARTTLS).
    fn starttls(&self) -> Option<(&Identity, &Tls)> {
        self.identity.as_ref().zip(self.upstream.as_ref())
    }
}

/// Where both directions are cut (the client's requests only on the way to a real server).
#[derive(Clone, Debug, Default)]
pub(crate) struct Cutting {
    pub(crate) answers: Cuts,
    pub(crate) requests: Cuts,
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
    /// cut as `cuts` say; a client that starts TLS is answered as `tls` says.
    pub(crate) async fn open(
        host: std::net::IpAddr,
        unix: bool,
        answers: Arc<Answers>,
        cuts: Cutting,
        pacing: Arc<Pacing>,
        tls: HarnessTls,
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
                        let tls = tls.clone();
                        let pacing = DirectionPacing { to_client: client_pacing.clone(), to_server: pacing.clone() };
                        let halted = halted.clone();
                        let at = order;
                        order += 1;
                        connections.spawn(async move {
                            (at, serve(stream, &answers, cuts, pacing, halted, &tls).await)
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

async fn serve(
    client: Stream,
    answers: &Answers,
    cuts: Cutting,
    pacing: DirectionPacing,
    mut halted: watch::Receiver<bool>,
    tls: &HarnessTls,
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
            let trouble = tokio::select! {
                trouble = relay(client, *addr, (&mut to_client, &mut to_server), tls.starttls()) => trouble,
                () = halt => None,
            };
            let mut served = to_client.served(Some(to_server));
            match trouble {
                Some(Trouble::Unreachable(why)) => served.unreachable = Some(why),
                Some(Trouble::NoTls(why)) => served.no_tls = Some(why),
                None => {}
            }
            served
        }
        Answers::Recorded(all) => {
            let mut talk = Talk::default();
            tokio::select! {
                () = stand_in(client, all, &mut to_client, &mut talk, tls.identity.as_ref()) => {}
                () = halt => {}
            }
            let mut served = to_client.served(None);
            served.conversation = talk.conversation;
            served.requested = talk.got;
            served.no_tls = talk.no_tls;
            served
        }
    }
}

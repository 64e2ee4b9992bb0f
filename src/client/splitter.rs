//! The cutting of one direction of a client's connection, shared by the relay and the
//! stand-in: bytes written cut at the case's offsets, each chunk after a cut paced until the
//! reader has read what came before; and a connection's side as the cutting needs it (its
//! halves, its socket, where the kernel shows the other end).

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use crate::engine::{Ends, Opened, Pacing, SocketFd, Stream, Writer, open_stream};

/// Where one direction is cut: offsets into the stream of all its bytes on one connection;
/// empty for bytes sent whole (as they come).
pub(crate) type Cuts = Arc<[usize]>;

/// What one connection of the client got.
#[derive(Clone, Debug, Default)]
pub(crate) struct Served {
    /// The recorded conversation it had, for a stand-in.
    pub(crate) conversation: Option<String>,
    /// Every byte written to the client (inside TLS, the plaintext).
    pub(crate) answered: Vec<u8>,
    /// Every byte the client sent (inside TLS, the plaintext).
    pub(crate) requested: Vec<u8>,
    /// Cuts reached, and those the client had read up to before the next chunk went.
    pub(crate) boundaries: u64,
    pub(crate) kept: u64,
    /// Cuts reached inside TLS, after the client started it (STARTTLS).
    pub(crate) boundaries_in_tls: u64,
    /// Where TLS started in the answers: how many bytes of them came before.
    pub(crate) tls_at: Option<usize>,
    /// The real server could not be reached.
    pub(crate) unreachable: Option<String>,
    /// Why the client's TLS did not start where the conversation marks it.
    pub(crate) no_tls: Option<String>,
}

/// A connection's halves, its socket, and where the kernel shows its other end (TCP).
pub(super) struct Side {
    pub(super) opened: Opened,
    pub(super) ends: Option<Ends>,
}

impl Side {
    pub(super) async fn of(stream: Stream) -> std::io::Result<Side> {
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

/// Writes one direction's bytes cut at the offsets given, pacing each chunk after a cut
/// until the reader (the client, or the server) has read what came before. Inside TLS each
/// chunk is its own record (flushed): the reader's TLS hands each record's plaintext to one
/// read, and its socket's queue still shows when it has read.
pub(super) struct Splitter {
    cuts: Cuts,
    next: usize,
    pacing: Arc<Pacing>,
    pub(super) ends: Option<Ends>,
    sent: Vec<u8>,
    boundaries: u64,
    kept: u64,
    /// Where TLS started, in the bytes sent (the plaintext counts on inside TLS).
    tls_at: Option<usize>,
    /// Cuts reached inside TLS.
    in_tls: u64,
}

impl Splitter {
    pub(super) fn new(cuts: Cuts, pacing: Arc<Pacing>, ends: Option<Ends>) -> Self {
        Splitter {
            cuts,
            next: 0,
            pacing,
            ends,
            sent: Vec::new(),
            boundaries: 0,
            kept: 0,
            tls_at: None,
            in_tls: 0,
        }
    }

    /// What follows goes inside TLS.
    pub(super) fn tls_starts(&mut self) {
        self.tls_at = Some(self.sent.len());
    }

    pub(super) async fn send(
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
            to.flush().await?;
            self.sent.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.cuts.get(self.next) == Some(&self.sent.len()) {
                self.next += 1;
                self.boundaries += 1;
                if self.tls_at.is_some() {
                    self.in_tls += 1;
                }
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
    pub(super) fn served(self, requests: Option<Splitter>) -> Served {
        let (requested, boundaries, kept, in_tls) = match requests {
            Some(r) => (r.sent, r.boundaries, r.kept, r.in_tls),
            None => (Vec::new(), 0, 0, 0),
        };
        Served {
            answered: self.sent,
            requested,
            boundaries: self.boundaries + boundaries,
            kept: self.kept + kept,
            boundaries_in_tls: self.in_tls + in_tls,
            tls_at: self.tls_at,
            ..Served::default()
        }
    }
}

//! The sending half of one delivery: the blob chunk by chunk, paced so the server reads
//! every chunk on its own, with the case's pause mid-message and a conversation's waits for
//! the server, and its TLS handshake where it marks one (the reading half hands its half
//! over for that and gets the TLS one back); then the end of the request.

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::pacing::{Acked, Ends};
use super::socket::{Reader, SocketFd, Writer, upgrade, write_chunk};
use super::stall::{PauseProbe, Paused};
use super::turns;
use super::{Connection, Progress};
use crate::corpus::{WaitFor, WaitPoint};
use crate::stats::DeliveryCounts;
use crate::tls::{handshake_failure, refused_certificate};
use crate::wire::{ConnectError, Ending, Listen, NoTls};

/// The sending half of one delivery while it runs: what it needs besides the connection,
/// and what it has seen so far (shared by the steps of its chunk loop).
pub(super) struct Sending<'a> {
    pub(super) connection: &'a Connection,
    pub(super) progress: &'a Progress,
    pub(super) fd: SocketFd,
    /// Where the server's end is, for pacing; also looked at once the delivery is done.
    pub(super) ends: &'a mut Option<Ends>,
    pub(super) turns: Option<&'a turns::SoFar>,
    /// When the delivery began connecting.
    pub(super) started: Instant,
    /// Where to ask the reading half for its half, for a TLS handshake mid-conversation.
    pub(super) swap: Option<oneshot::Sender<Swap>>,
    /// What it has seen so far.
    pub(super) sent: Sent,
}

/// What the sending half saw, once it is done.
pub(super) struct Sent {
    pub(super) counts: DeliveryCounts,
    pub(super) ending: Ending,
    /// The size of every `write()` the kernel accepted, in order.
    pub(super) accepted: Vec<usize>,
    pub(super) paused: Paused,
    /// Whether the server was seen to take the connection off its listen queue
    /// (`None` until its end was seen at all).
    pub(super) taken: Option<bool>,
    /// Why the TLS handshake a conversation marks (`#~ tls`) did not happen.
    pub(super) no_tls: Option<NoTls>,
    /// The first of the conversation's waits that did not end within the connect timeout.
    pub(super) wait_missed: Option<WaitPoint>,
}

/// The reading half's hand-over for a TLS handshake: it gives its half, and takes the TLS
/// one back (none when the handshake failed and the connection is gone).
pub(super) struct Swap {
    pub(super) give: oneshot::Sender<Reader>,
    pub(super) take: oneshot::Receiver<Reader>,
}

impl Sent {
    /// Nothing sent yet of a blob cut in `chunks` chunks; `counts` holds the connect's own.
    pub(super) fn new(counts: DeliveryCounts, chunks: usize) -> Self {
        Sent {
            counts,
            ending: Ending::Complete,
            accepted: Vec::with_capacity(chunks),
            paused: Paused::default(),
            taken: None,
            no_tls: None,
            wait_missed: None,
        }
    }
}

impl Sending<'_> {
    /// Sends the blob chunk by chunk, paced, then ends the request and tells the reader
    /// (through `done_tx`) when the last chunk went. Gives the writer back, so that the
    /// connection stays open until the reader is done too (none when a TLS handshake failed
    /// and took the connection with it).
    pub(super) async fn send(
        mut self,
        writer: Writer,
        done_tx: oneshot::Sender<(Instant, bool)>,
    ) -> Result<(Sent, Option<Writer>), ConnectError> {
        let connection = self.connection;
        let last = connection.splits.len().saturating_sub(1);
        let mut writer = Some(writer);
        for (i, chunk) in connection.splits.cut(&connection.bytes).enumerate() {
            writer = self.server_turn(writer).await;
            let Some(to) = writer.as_mut() else { break };
            if self.write(to, chunk).await?.is_break() || i == last {
                break;
            }
            if self.wait_delivered().await.is_break() {
                break;
            }
            self.pause().await?;
            self.stall_if_due().await;
        }
        let writer = self.end(writer, done_tx).await;
        Ok((self.sent, writer))
    }

    /// Writes one chunk, and shows it in the progress. Breaks when the server closed the
    /// connection; a refused connect (with fast open, it shows at the first write) is an error.
    async fn write(
        &mut self,
        writer: &mut Writer,
        chunk: &[u8],
    ) -> Result<ControlFlow<()>, ConnectError> {
        if let Err(e) = write_chunk(writer, chunk, &mut self.sent.accepted).await {
            // With fast open, a refused connect shows here, at the first write.
            if self.sent.counts.chunks == 0 && e.kind() == io::ErrorKind::ConnectionRefused {
                return Err(ConnectError::Refused(e));
            }
            self.sent.ending = Ending::ClosedByServer;
            return Ok(ControlFlow::Break(()));
        }
        self.sent.counts.chunks += 1;
        self.sent.counts.bytes += chunk.len() as u64;
        self.progress
            .chunks
            .store(self.sent.counts.chunks as usize, Ordering::Relaxed);
        self.progress
            .bytes
            .store(self.sent.counts.bytes as usize, Ordering::Relaxed);
        Ok(ControlFlow::Continue(()))
    }

    /// Waits until the chunk just written has arrived, so that the server reads it on its
    /// own. Breaks when the connection failed meanwhile (the server closed it).
    async fn wait_delivered(&mut self) -> ControlFlow<()> {
        self.sent.counts.ready_checks += 1;
        match self
            .connection
            .pacing
            .wait_delivered(&self.fd, self.ends, self.sent.counts.bytes)
            .await
        {
            Ok(Acked::WithinCycle) => self.sent.counts.ready_first += 1,
            Ok(_) => {}
            Err(_) => {
                self.sent.ending = Ending::ClosedByServer;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// The gap before the next chunk, counting what it saw of the server's end: an error
    /// when the server has not accepted the connection within the connect timeout.
    async fn pause(&mut self) -> Result<(), ConnectError> {
        let connection = self.connection;
        if let Some(seen) = connection.pacing.pause(&self.fd, self.ends).await {
            self.sent.taken = Some(self.sent.taken == Some(true) || seen.accepted);
            self.sent.counts.read_checks += 1;
            if !seen.all_read {
                self.sent.counts.unread_before_next += 1;
            }
            // Connected, as far as the kernel goes; but a server that has not
            // accepted the connection within the connect timeout is a server that
            // stopped accepting, whatever the listen queue still takes.
            if !seen.accepted && self.started.elapsed() >= connection.connect_timeout {
                return Err(ConnectError::TimedOut(connection.connect_timeout));
            }
        }
        Ok(())
    }

    /// The case's pause mid-message, when it is due after the bytes sent so far: shown in
    /// the progress while it lasts, with a probe of the server meanwhile.
    async fn stall_if_due(&mut self) {
        let connection = self.connection;
        let bytes = self.sent.counts.bytes;
        if let Some(stall) = connection.stall.filter(|s| s.at() as u64 == bytes) {
            self.progress.stalling.store(true, Ordering::Relaxed);
            let probe = PauseProbe {
                addr: &connection.addr,
                bytes: &connection.bytes,
                listen: connection.listen,
                tls: connection.tls.as_ref(),
                pacing: &connection.pacing,
            };
            self.sent.paused = probe.pause(stall.time()).await;
            self.progress.stalling.store(false, Ordering::Relaxed);
        }
    }

    /// In a conversation, the server's turn if one is due after the bytes sent so far: each
    /// wait there (at most the connect timeout) and the TLS handshake if one is marked there,
    /// in the file's order. The writer to go on with: the TLS one after a handshake, none
    /// when the connection is gone.
    async fn server_turn(&mut self, writer: Option<Writer>) -> Option<Writer> {
        let mut writer = writer?;
        let connection = self.connection;
        let Some(turns) = self.turns else {
            return Some(writer);
        };
        let at = self.sent.counts.bytes as usize;
        for wait in connection.waits.iter().filter(|w| w.at == at) {
            match &wait.until {
                WaitFor::Tls => writer = self.start_tls(writer).await?,
                until => {
                    if !turns.wait(until, connection.connect_timeout).await {
                        self.sent.counts.waits_timed_out += 1;
                        self.sent.wait_missed.get_or_insert_with(|| wait.clone());
                    }
                }
            }
        }
        Some(writer)
    }

    /// The TLS handshake mid-conversation: takes the reading half from the reader, joins the
    /// two, shakes hands within the connect timeout, and gives the reader its TLS half. On
    /// failure the connection is gone (the server closed it, as far as this delivery goes),
    /// and why is kept.
    async fn start_tls(&mut self, writer: Writer) -> Option<Writer> {
        let connection = self.connection;
        let failed = |sent: &mut Sent, why: NoTls| {
            sent.ending = Ending::ClosedByServer;
            sent.no_tls = Some(why);
            None
        };
        let Some(tls) = connection.upgrade.as_ref() else {
            let why = NoTls::Refused("no TLS settings were given (.tls(...) / --tls)".to_owned());
            return failed(&mut self.sent, why);
        };
        let (give, given) = oneshot::channel();
        let (back, take) = oneshot::channel();
        let asked = self.swap.take().map(|swap| swap.send(Swap { give, take }));
        let Some(Ok(())) = asked else {
            let why = NoTls::Refused("the connection ended before it".to_owned());
            return failed(&mut self.sent, why);
        };
        let Ok(reader) = given.await else {
            let why = NoTls::Refused("the server closed the connection before it".to_owned());
            return failed(&mut self.sent, why);
        };
        match upgrade(reader, writer, tls, connection.connect_timeout).await {
            Ok((reader, writer)) => {
                let _ = back.send(reader);
                Some(writer)
            }
            Err(ConnectError::Tls(e)) if refused_certificate(&e) => {
                failed(&mut self.sent, NoTls::Certificate(e))
            }
            Err(ConnectError::Tls(e)) => {
                failed(&mut self.sent, NoTls::Refused(handshake_failure(&e)))
            }
            Err(e) => failed(&mut self.sent, NoTls::Refused(e.reason())),
        }
    }

    /// Ends the request once the chunks are sent: waits for the server's last say in a
    /// conversation, half-closes when the listening or an early close calls for it, and tells
    /// the reader when, and whether the request was closed early. Gives the writer back.
    async fn end(
        &mut self,
        mut writer: Option<Writer>,
        done_tx: oneshot::Sender<(Instant, bool)>,
    ) -> Option<Writer> {
        let connection = self.connection;
        if self.sent.ending == Ending::Complete {
            // A wait after the last byte: the conversation ends when the server has had
            // its last say.
            writer = self.server_turn(writer).await;
        }
        if self.sent.ending == Ending::Complete
            && connection.splits.total() < connection.bytes.len()
        {
            self.sent.ending = Ending::ClosedEarly;
        }
        if let Some(to) = writer.as_mut()
            && (matches!(connection.listen, Listen::HalfClose { .. })
                || self.sent.ending == Ending::ClosedEarly)
        {
            // A half-close tells the server the request is over; it answers and closes.
            let _ = to.shutdown().await;
        }
        let _ = done_tx.send((Instant::now(), self.sent.ending == Ending::ClosedEarly));
        writer
    }
}

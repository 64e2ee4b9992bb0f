//! One delivery on its own connection: connect, send one blob chunk by chunk with pacing,
//! read what the server answers concurrently, and close.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until, timeout};

use super::pacing::{Ends, Pacing};
use super::sending::{Sending, Sent, Swap};
use super::socket::{self, Opened, Reader, Stream, classify_connect_error, open};
use super::stall::ProbeSent;
use super::stop_time::stop_time;
use super::turns;
use crate::case::{SlowRead, Stall};
use crate::config::Endpoint;
use crate::corpus::{WaitPoint, tls_at};
use crate::platform::{enable_fastopen, is_out_of_local_ports, make_slow_reader};
use crate::split::Splits;
use crate::stats::DeliveryCounts;
use crate::tls::Tls;
use crate::wire::{ConnectError, Ending, Heard, Listen, Neglect, NoTls, ReadEnd};

/// One delivery on its own connection: everything it needs; cheap to clone (the blob's
/// bytes are shared).
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) addr: Endpoint,
    pub(crate) bytes: Arc<[u8]>,
    /// Where a conversation waits for the server.
    pub(crate) waits: Arc<[WaitPoint]>,
    pub(crate) splits: Splits,
    pub(crate) fastopen: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) pacing: Pacing,
    pub(crate) listen: Listen,
    /// A pause mid-message, with a probe of the server meanwhile.
    pub(crate) stall: Option<Stall>,
    /// Read the response slowly, through a small window.
    pub(crate) slow: Option<SlowRead>,
    /// Speak TLS over the connection from its first byte, each chunk its own record.
    pub(crate) tls: Option<Tls>,
    /// Speak TLS from where a conversation marks it (`#~ tls`), each chunk its own record.
    pub(crate) upgrade: Option<Tls>,
}

/// Progress visible while the delivery runs, for reports on the cases in flight.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) chunks: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
    /// In its pause mid-message now.
    pub(crate) stalling: AtomicBool,
}

/// How long a connection closed early on purpose reads before it is dropped.
const CLOSED_EARLY_LINGER: Duration = Duration::from_millis(10);

/// How long the server must have said nothing in clear text before a TLS handshake starts.
const CLEAR_TEXT_QUIET: Duration = Duration::from_millis(5);

/// Response bytes kept per delivery; the rest are read and counted.
pub(crate) const KEEP: usize = 1 << 20;

/// A delivery that connected.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) counts: DeliveryCounts,
    pub(crate) ending: Ending,
    /// The server closed its side after the whole exchange: it read everything and was
    /// alive to answer, so this delivery did not crash it.
    pub(crate) closed_cleanly: bool,
    pub(crate) heard: Heard,
    /// The connection's local port, as the server sees it.
    pub(crate) local_port: u16,
    /// The size of every `write()` the kernel accepted, in order: the chunks as they went
    /// out (a chunk the kernel took in parts shows as several).
    pub(crate) accepted: Vec<usize>,
    /// The server did not serve a probe connection during this delivery's pause.
    pub(crate) neglect: Option<Neglect>,
    /// The probe connection of this delivery's pause, if it connected.
    pub(crate) probe: Option<ProbeSent>,
    /// Why the TLS handshake the conversation marks (`#~ tls`) did not happen, if it did not.
    pub(crate) no_tls: Option<NoTls>,
    /// The first of the conversation's waits that did not end within the connect timeout.
    pub(crate) wait_missed: Option<crate::corpus::WaitPoint>,
}

impl Connection {
    /// Delivers the blob: connects, sends it chunk by chunk while reading the answer
    /// concurrently, closes, and puts together what both halves saw.
    pub(crate) async fn run(&self, progress: &Progress) -> Result<Delivered, ConnectError> {
        let started = Instant::now();
        let mut port_waits = 0;
        let stream = self.connect(&mut port_waits).await?;
        let Opened {
            reader,
            writer,
            fd,
            local,
        } = open(stream, self.tls.as_ref(), self.connect_timeout).await?;
        let connect_time = started.elapsed();
        let local_port = local.map_or(0, |a| a.port());
        let mut ends = local
            .zip(self.addr.tcp())
            .map(|(client, server)| Ends { server, client });
        let (done_tx, done_rx) = oneshot::channel();
        let slow = self.slow.map(|schedule| Slow {
            schedule,
            pacing: &self.pacing,
            ends,
        });
        let turns = (!self.waits.is_empty()).then(turns::SoFar::default);
        let (swap, swapped) = match tls_at(&self.waits).is_some() {
            true => {
                let (ask, asked) = oneshot::channel();
                (Some(ask), Some(asked))
            }
            false => (None, None),
        };
        let read = read_response(reader, done_rx, self.listen, slow, turns.as_ref(), swapped);
        let write = Sending {
            connection: self,
            progress,
            fd,
            ends: &mut ends,
            turns: turns.as_ref(),
            started,
            swap,
            sent: Sent::new(
                DeliveryCounts {
                    connect_time,
                    port_waits,
                    ..Default::default()
                },
                self.splits.len(),
            ),
        }
        .send(writer, done_tx);

        let (written, (heard, backpressured)) = tokio::join!(write, read);
        let (mut sent, _writer) = written?;
        if let Some(seen) = self.pacing.look(&mut ends) {
            sent.taken = Some(sent.taken == Some(true) || seen.accepted);
        }
        self.delivered(started, local_port, sent, heard, backpressured)
    }

    /// Puts together what the two halves saw, once both are done: the delivery, or a
    /// connect that timed out after all, when the server never took the connection off its
    /// listen queue and never answered.
    fn delivered(
        &self,
        started: Instant,
        local_port: u16,
        sent: Sent,
        heard: Heard,
        backpressured: bool,
    ) -> Result<Delivered, ConnectError> {
        let Sent {
            mut counts,
            ending,
            accepted,
            paused,
            taken,
            no_tls,
            wait_missed,
        } = sent;
        // Nothing heard, and the server never took the connection off its listen queue (it
        // waited out, or the kernel gave up on it) within the connect timeout: the server did
        // not accept it, whatever the kernel's queue took in. (Sooner, it may only be slow:
        // the answer's own oracles judge that.)
        if heard.received == 0
            && matches!(heard.end, ReadEnd::TimedOut | ReadEnd::Reset)
            && taken == Some(false)
            && started.elapsed() >= self.connect_timeout
        {
            return Err(ConnectError::TimedOut(started.elapsed()));
        }
        counts.received = heard.received;
        counts.slow_read = self.slow.is_some();
        counts.backpressured = backpressured;
        counts.closed_early = ending == Ending::ClosedEarly;
        let ending = if ending == Ending::Complete && heard.end == ReadEnd::Reset {
            Ending::ClosedByServer
        } else {
            ending
        };
        counts.closed_by_server = ending == Ending::ClosedByServer;
        Ok(Delivered {
            counts,
            ending,
            closed_cleanly: ending != Ending::ClosedByServer && heard.end == ReadEnd::Closed,
            heard,
            local_port,
            accepted,
            neglect: paused.neglect,
            probe: paused.probe,
            no_tls,
            wait_missed,
        })
    }

    /// Connects, waiting and retrying while the machine has no free local port (many
    /// connections in TIME_WAIT at high rates): `port_waits` counts those waits.
    async fn connect(&self, port_waits: &mut u64) -> Result<Stream, ConnectError> {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.connect_once().await {
                Err(ConnectError::Local(e))
                    if is_out_of_local_ports(&e) && *port_waits < MAX_PORT_WAITS =>
                {
                    *port_waits += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// One connect: a TCP socket with the case's options (no delay; fast open, a slow
    /// reader's small window when drawn), or a Unix socket, where those options mean nothing.
    async fn connect_once(&self) -> Result<Stream, ConnectError> {
        let addr = match &self.addr {
            Endpoint::Tcp(addr) => *addr,
            Endpoint::Unix(_) => return socket::connect(&self.addr, self.connect_timeout).await,
        };
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(ConnectError::Local)?;
        socket.set_nodelay(true).map_err(ConnectError::Local)?;
        if self.fastopen {
            enable_fastopen(&socket);
        }
        if self.slow.is_some() {
            make_slow_reader(&socket);
        }
        match timeout(self.connect_timeout, socket.connect(addr)).await {
            Err(_) => Err(ConnectError::TimedOut(self.connect_timeout)),
            Ok(Ok(stream)) => Ok(Stream::Tcp(stream)),
            Ok(Err(e)) => Err(classify_connect_error(e)),
        }
    }
}

/// How many times one connection waits for a free local port before giving up.
const MAX_PORT_WAITS: u64 = 20;

/// A slow reader's schedule, and where to watch the server's send buffer.
struct Slow<'a> {
    schedule: SlowRead,
    pacing: &'a Pacing,
    ends: Option<Ends>,
}

impl Slow<'_> {
    /// Whether the server's send buffer is seen full now.
    fn send_full(&self) -> bool {
        self.pacing.server_send_full(self.ends.as_ref()) == Some(true)
    }
}

/// Reads the server's response until it is complete as `listen` defines it, the server
/// closes, or the connection fails. The clock for lingering and settling starts when the
/// writer reports its last chunk sent. A slow reader reads its first pieces small and
/// apart, its waits stretched by its pauses, and notes whether the server's send buffer was
/// full meanwhile (the second value). When the writer asks (`swap`, a TLS handshake
/// mid-conversation), it hands its half over and reads on with the TLS one.
async fn read_response(
    reader: Reader,
    mut writer_done: oneshot::Receiver<(Instant, bool)>,
    listen: Listen,
    slow: Option<Slow<'_>>,
    turns: Option<&turns::SoFar>,
    mut swap: Option<oneshot::Receiver<Swap>>,
) -> (Heard, bool) {
    let mut reading = Reading::new(reader, listen, slow, turns);
    loop {
        let stop = reading.stop();
        let until_stop = async {
            match stop {
                Some((at, _)) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = reading.read_piece() => match read {
                Ok(0) => { reading.heard.end = ReadEnd::Closed; break; }
                Ok(n) => reading.got(n),
                Err(_) => { reading.heard.end = ReadEnd::Reset; break; }
            },
            done = &mut writer_done, if reading.done_at.is_none() => reading.writer_done(done),
            asked = async { swap.as_mut()?.await.ok() }, if swap.is_some() => {
                swap = None;
                if let Some(asked) = asked && !reading.swap(asked).await {
                    reading.heard.end = ReadEnd::Reset;
                    break;
                }
            }
            () = until_stop => {
                reading.heard.end = stop.map_or(ReadEnd::TimedOut, |(_, end)| end);
                break;
            }
        }
    }
    reading.ended()
}

/// The reading half of one delivery while it runs: what it has heard so far, and what
/// decides when it stops (shared by the steps of its read loop).
struct Reading<'a> {
    /// None only while the writer has it, for a TLS handshake.
    reader: Option<Reader>,
    listen: Listen,
    slow: Option<Slow<'a>>,
    turns: Option<&'a turns::SoFar>,
    heard: Heard,
    buf: Vec<u8>,
    /// When the writer reported its last chunk sent.
    done_at: Option<Instant>,
    last_byte_at: Option<Instant>,
    /// How many small pieces a slow reader has still to read.
    slow_left: u32,
    /// The server's send buffer was seen full while a slow reader read.
    backpressured: bool,
}

impl<'a> Reading<'a> {
    /// Nothing heard yet; a slow reader's waits stretched by its pauses.
    fn new(
        reader: Reader,
        mut listen: Listen,
        slow: Option<Slow<'a>>,
        turns: Option<&'a turns::SoFar>,
    ) -> Self {
        let heard = Heard {
            bytes: Vec::new(),
            received: 0,
            end: ReadEnd::TimedOut,
            waited: Duration::ZERO,
        };
        let buf = vec![0u8; 16 * 1024];
        let slow_left = slow.as_ref().map_or(0, |s| s.schedule.pieces());
        if let Some(slow) = &slow {
            listen = listen.stretched(slow.schedule.pause(), slow.schedule.span());
        }
        Reading {
            reader: Some(reader),
            listen,
            slow,
            turns,
            heard,
            buf,
            done_at: None,
            last_byte_at: None,
            slow_left,
            backpressured: false,
        }
    }

    /// When reading stops, and how it ends then, as `listen` says: known once the writer
    /// is done.
    fn stop(&self) -> Option<(Instant, ReadEnd)> {
        // Counted as compared: durations masked, while the answer is all in hand.
        let counted = if self.heard.received == self.heard.bytes.len() as u64 {
            crate::oracle::compared_len(&self.heard.bytes) as u64
        } else {
            self.heard.received
        };
        self.done_at
            .map(|done| stop_time(self.listen, done, self.last_byte_at, counted))
    }

    /// Reads the next piece: as much as there is room for, or a slow reader's small piece
    /// after its pause (its first, one byte at once), noting whether the server's send
    /// buffer was full.
    async fn read_piece(&mut self) -> io::Result<usize> {
        let slowly = self.slow.as_ref().filter(|_| self.slow_left > 0);
        let size = slowly.map_or(self.buf.len(), |slow| {
            slow.schedule.piece().min(self.buf.len())
        });
        let first = self.heard.received == 0;
        // The server's send buffer is fullest before the first read: it takes one byte,
        // then looks.
        let size = if first && slowly.is_some() { 1 } else { size };
        if let Some(slow) = slowly.filter(|_| !first) {
            // A zero pause is no pause (a zero sleep would wait for the timer's next tick).
            if !slow.schedule.pause().is_zero() {
                tokio::time::sleep(slow.schedule.pause()).await;
            }
            self.backpressured |= slow.send_full();
        }
        let Some(reader) = self.reader.as_mut() else {
            return std::future::pending().await;
        };
        let read = reader.read(&mut self.buf[..size]).await;
        if let Some(slow) = slowly.filter(|_| first) {
            self.backpressured |= slow.send_full();
        }
        read
    }

    /// Hands the reading half to the writer for a TLS handshake, and takes the TLS one back:
    /// false when the handshake failed (the connection is gone).
    async fn swap(&mut self, Swap { give, take }: Swap) -> bool {
        if !self.drain_clear_text().await {
            return false;
        }
        if let Some(reader) = self.reader.take()
            && let Err(reader) = give.send(reader)
        {
            // The writer is gone: nothing changes hands.
            self.reader = Some(reader);
            return true;
        }
        match take.await {
            Ok(reader) => {
                self.reader = Some(reader);
                true
            }
            Err(_) => false,
        }
    }

    /// Reads, at full speed, what the server still says in clear text before a TLS
    /// handshake: the rest of its yes, which a wait may have matched only the start of (or a
    /// slow reader left unread), until it has been quiet for [`CLEAR_TEXT_QUIET`]. Else the
    /// handshake would take those bytes for TLS. False when the connection ended.
    async fn drain_clear_text(&mut self) -> bool {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return true;
            };
            let read = timeout(CLEAR_TEXT_QUIET, reader.read(&mut self.buf)).await;
            match read {
                Err(_) => return true,
                Ok(Ok(0) | Err(_)) => return false,
                Ok(Ok(n)) => self.got(n),
            }
        }
    }

    /// Takes in `n` bytes just read: counted, kept up to [`KEEP`], and shown to a
    /// conversation's turns.
    fn got(&mut self, n: usize) {
        self.heard.received += n as u64;
        let room = KEEP.saturating_sub(self.heard.bytes.len());
        self.heard.bytes.extend_from_slice(&self.buf[..n.min(room)]);
        self.last_byte_at = Some(Instant::now());
        if let Some(turns) = self.turns {
            turns.got(&self.buf[..n]);
        }
        if self.slow.is_some() && self.slow_left > 0 {
            self.slow_left -= 1;
        }
    }

    /// The writer's word that its last chunk went: the clock for lingering and settling
    /// starts then; a request closed early waits for no response.
    fn writer_done(&mut self, done: Result<(Instant, bool), oneshot::error::RecvError>) {
        let (at, closed_early) = done.unwrap_or_else(|_| (Instant::now(), false));
        if closed_early {
            // No complete request was sent: no response to wait for.
            self.listen = Listen::HalfClose {
                linger: CLOSED_EARLY_LINGER,
            };
        }
        self.done_at = Some(at);
    }

    /// What was heard, once reading stopped, and whether the server's send buffer was
    /// seen full; a conversation's turns are told it is over.
    fn ended(mut self) -> (Heard, bool) {
        self.heard.waited = self.done_at.map_or(Duration::ZERO, |d| d.elapsed());
        if let Some(turns) = self.turns {
            turns.ended();
        }
        (self.heard, self.backpressured)
    }
}

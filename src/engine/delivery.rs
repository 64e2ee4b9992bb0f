//! One delivery: connect, send one blob chunk by chunk with pacing, read what the server
//! answers concurrently, and close.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until, timeout};

use super::pacing::{Acked, Pacing};
use crate::split::Splits;
use crate::stats::DeliveryCounts;

/// Everything one connection needs; cheap to clone (the blob's bytes are shared).
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) addr: SocketAddr,
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) splits: Splits,
    pub(crate) fastopen: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) pacing: Pacing,
    /// How long to keep reading after the last chunk for the server's answer or close.
    pub(crate) linger: Duration,
}

/// Progress visible while the delivery runs, for reports on the cases in flight.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) chunks: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
}

/// How a delivery ended from the connection's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every chunk was sent.
    Complete,
    /// Closed early on purpose, as the case says.
    ClosedEarly,
    /// The server closed or reset the connection before every chunk was sent.
    ClosedByServer,
}

/// A delivery that connected.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) counts: DeliveryCounts,
    pub(crate) ending: Ending,
    /// The server closed its side after the whole exchange: it read everything and was
    /// alive to answer, so this delivery did not crash it.
    pub(crate) closed_cleanly: bool,
}

/// A delivery that did not get a connection.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Refused (nothing listening) or reset during the handshake.
    Refused(io::Error),
    /// No answer within the connect timeout.
    TimedOut(Duration),
    /// The harness's own side failed (no local port, no descriptor).
    Local(io::Error),
}

impl Delivery {
    pub(crate) async fn run(&self, progress: &Progress) -> Result<Delivered, ConnectError> {
        let started = Instant::now();
        let stream = self.connect().await?;
        let connect_time = started.elapsed();
        let (reader, mut writer) = stream.into_split();
        let (done_tx, done_rx) = oneshot::channel();
        let read = read_response(reader, done_rx, self.linger);

        let write = async {
            let mut counts = DeliveryCounts {
                connect_time,
                ..Default::default()
            };
            let mut ending = Ending::Complete;
            let last = self.splits.len().saturating_sub(1);
            for (i, chunk) in self.splits.cut(&self.bytes).enumerate() {
                if let Err(e) = writer.write_all(chunk).await {
                    // With fast open, a refused connect shows here, at the first write.
                    if counts.chunks == 0 && e.kind() == io::ErrorKind::ConnectionRefused {
                        return Err(ConnectError::Refused(e));
                    }
                    ending = Ending::ClosedByServer;
                    break;
                }
                counts.chunks += 1;
                counts.bytes += chunk.len() as u64;
                progress
                    .chunks
                    .store(counts.chunks as usize, Ordering::Relaxed);
                progress
                    .bytes
                    .store(counts.bytes as usize, Ordering::Relaxed);
                if i == last {
                    break;
                }
                counts.ready_checks += 1;
                match self.pacing.wait_acked(writer.as_ref()).await {
                    Ok(Acked::AtOnce) => counts.ready_first += 1,
                    Ok(_) => {}
                    Err(_) => {
                        ending = Ending::ClosedByServer;
                        break;
                    }
                }
                self.pacing.pause().await;
            }
            if ending == Ending::Complete && self.splits.total() < self.bytes.len() {
                ending = Ending::ClosedEarly;
            }
            // A half-close tells the server the request is over; it answers and closes.
            let _ = writer.shutdown().await;
            let _ = done_tx.send(());
            Ok((counts, ending, writer))
        };

        let (written, response) = tokio::join!(write, read);
        let (mut counts, ending, _writer) = written?;
        let (received, read_end) = response;
        counts.received = received;
        let reset = read_end == ReadEnd::Reset;
        counts.closed_early = ending == Ending::ClosedEarly;
        let ending = if ending == Ending::Complete && reset {
            Ending::ClosedByServer
        } else {
            ending
        };
        counts.closed_by_server = ending == Ending::ClosedByServer;
        Ok(Delivered {
            counts,
            ending,
            closed_cleanly: ending != Ending::ClosedByServer && read_end == ReadEnd::Closed,
        })
    }

    async fn connect(&self) -> Result<TcpStream, ConnectError> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(ConnectError::Local)?;
        socket.set_nodelay(true).map_err(ConnectError::Local)?;
        if self.fastopen {
            // The first write goes out in the SYN where the kernel has a cookie for the
            // server; otherwise the kernel connects normally. Nothing is lost either way.
            let _ = nix::sys::socket::setsockopt(
                &socket,
                nix::sys::socket::sockopt::TcpFastOpenConnect,
                &true,
            );
        }
        match timeout(self.connect_timeout, socket.connect(self.addr)).await {
            Err(_) => Err(ConnectError::TimedOut(self.connect_timeout)),
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(classify_connect_error(e)),
        }
    }
}

fn classify_connect_error(e: io::Error) -> ConnectError {
    match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL | libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            ConnectError::Local(e)
        }
        _ => ConnectError::Refused(e),
    }
}

/// How reading a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// The server closed its side.
    Closed,
    /// The connection was reset or failed.
    Reset,
    /// The linger time after the last chunk ran out first.
    Lingered,
}

/// Reads until the server closes, the connection fails, or `linger` after the writer is
/// done. Returns how many bytes the server sent and how reading ended.
async fn read_response(
    mut reader: OwnedReadHalf,
    mut writer_done: oneshot::Receiver<()>,
    linger: Duration,
) -> (u64, ReadEnd) {
    let mut received = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    let mut deadline: Option<Instant> = None;
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => return (received, ReadEnd::Closed),
                Ok(n) => received += n as u64,
                Err(_) => return (received, ReadEnd::Reset),
            },
            _ = &mut writer_done, if deadline.is_none() => {
                deadline = Some(Instant::now() + linger);
            }
            () = until_deadline => return (received, ReadEnd::Lingered),
        }
    }
}

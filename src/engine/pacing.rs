//! Keeping chunks apart: after each chunk, wait until the server's end has received every
//! byte sent so far (or, where that end cannot be seen, until the kernel reports them
//! acknowledged), then until the server has read it, before the next. This is the only
//! place in the crate that sleeps to pace traffic.
//!
//! On loopback the ACK returns microseconds after `send()`, long before the server reads:
//! the ACK alone keeps almost no boundary; and once the server delays its ACKs, waiting for
//! one costs milliseconds a chunk. By default ([`Gap::Adaptive`]) each connection watches
//! the server's end (sock_diag): what it has received, then its receive queue, moving as
//! soon as that queue is empty, which keeps every boundary at the machine's speed; where
//! that end cannot be seen (a server on another machine), a fixed pause after the ACK
//! stands in for it.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};

use super::reads::ReadWatch;
use crate::config::Gap;
use crate::platform::{ServerEnd, ServerQueue, unacknowledged};

/// How long a connection waits for the server to read a chunk before it sends the next
/// anyway (counted in `unread_before_next`): a server that stalls must not stall the run.
const READ_WAIT: Duration = Duration::from_secs(1);

/// How long a connection spins, yielding, for the server to read before it sleeps between
/// looks.
const SPIN: Duration = Duration::from_millis(2);

/// Where the server's end of one connection is, for watching its receive queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ends {
    pub(crate) server: SocketAddr,
    pub(crate) client: SocketAddr,
}

/// The run's sock_diag socket, opened on first use and shared by its connections: one per
/// run, so two runs in one process never share one.
#[derive(Default)]
enum QueueSlot {
    #[default]
    Unopened,
    Open(ServerQueue),
    /// It could not be opened: the server's queue is not visible from here.
    Failed,
}

/// The server's receive queues, as one run sees them, and what they tell of its reading.
#[derive(Clone)]
pub(crate) struct Queues(Arc<(Mutex<QueueSlot>, ReadWatch)>);

impl Default for Queues {
    fn default() -> Self {
        Queues(Arc::new((Mutex::default(), ReadWatch::new())))
    }
}

impl fmt::Debug for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Queues(..)")
    }
}

impl Queues {
    /// The server's end of the connection, if it can be seen from here. Tries the
    /// IPv4-mapped form too (a dual-stack server socket).
    fn server_end(&self, ends: &mut Ends) -> Option<ServerEnd> {
        let end = self.look(ends)?;
        self.0.1.saw(end);
        Some(end)
    }

    /// Whether the server's send buffer for this connection is full, if it can be seen.
    fn send_full(&self, ends: &Ends) -> Option<bool> {
        self.ask(&mut ends.clone(), ServerQueue::send_full)
    }

    fn received(&self, ends: &mut Ends) -> Option<u64> {
        self.ask(ends, ServerQueue::received)
    }

    fn look(&self, ends: &mut Ends) -> Option<ServerEnd> {
        self.ask(ends, ServerQueue::server_end)
    }

    /// Asks the run's sock_diag socket (opened on first use) about the server's end of the
    /// connection; tries the IPv4-mapped form too, and keeps it in `ends` when that is the one
    /// the kernel knows (a dual-stack server socket).
    fn ask<T>(
        &self,
        ends: &mut Ends,
        query: impl Fn(&mut ServerQueue, SocketAddr, SocketAddr) -> io::Result<Option<T>>,
    ) -> Option<T> {
        let mut slot = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*slot, QueueSlot::Unopened) {
            *slot = ServerQueue::open().map_or(QueueSlot::Failed, QueueSlot::Open);
        }
        let QueueSlot::Open(queue) = &mut *slot else {
            return None;
        };
        if let Ok(Some(answer)) = query(queue, ends.server, ends.client) {
            return Some(answer);
        }
        let (server, client) = (mapped(ends.server)?, mapped(ends.client)?);
        let answer = query(queue, server, client).ok()??;
        *ends = Ends { server, client };
        Some(answer)
    }
}

/// The address the server's socket has for a connection to `server` from `client`: for an
/// IPv4 connection to a server listening on a dual-stack IPv6 socket, the IPv4-mapped form.
pub(crate) fn mapped(addr: SocketAddr) -> Option<SocketAddr> {
    match addr.ip() {
        IpAddr::V4(v4) => Some(SocketAddr::new(
            IpAddr::V6(v4.to_ipv6_mapped()),
            addr.port(),
        )),
        IpAddr::V6(_) => None,
    }
}

/// What a connection saw of the server's end before its next chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AfterGap {
    /// The server had read everything sent so far.
    pub(crate) all_read: bool,
    /// The server had accepted the connection.
    pub(crate) accepted: bool,
}

impl From<ServerEnd> for AfterGap {
    fn from(end: ServerEnd) -> Self {
        AfterGap {
            all_read: end.unread == 0,
            accepted: end.accepted,
        }
    }
}

/// How one connection paces its chunks.
#[derive(Clone, Debug)]
pub(crate) struct Pacing {
    gap: Gap,
    /// When the run's cycles began (for [`Gap::Cycle`]).
    epoch: Instant,
    /// Give up waiting for an acknowledgement after this long and send anyway.
    ack_limit: Duration,
    queues: Queues,
    /// Wait for the server's end to have received each chunk rather than for our end to see
    /// it acknowledged, where the server's end can be seen: the server's delayed
    /// acknowledgements cost up to 40 ms a chunk (on one connection, 2 ms a chunk of
    /// polling), and receipt is what keeping a boundary needs.
    by_receipt: bool,
    /// The connection's own send queue is what the server has not read (a Unix socket: its
    /// bytes stay counted against the sender until the server reads them), so waiting for
    /// it to empty keeps the boundary exactly, with no pause after.
    own_queue: bool,
}

/// How the wait for an acknowledgement went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acked {
    /// All bytes were acknowledged within one cycle: the connection was ready to send, in
    /// the original tool's sense.
    WithinCycle,
    /// They were, but later than one cycle.
    Late,
    /// They were not within the limit.
    NotWithinLimit,
}

impl Pacing {
    /// Pacing with this gap, its cycles starting now.
    pub(crate) fn new(gap: Gap, ack_limit: Duration) -> Self {
        Pacing {
            gap,
            epoch: Instant::now(),
            ack_limit,
            queues: Queues::default(),
            by_receipt: false,
            own_queue: false,
        }
    }

    /// The same pacing, for connections whose send queue empties only when the server has
    /// read their bytes (Unix sockets).
    pub(crate) fn by_own_queue(mut self) -> Self {
        self.own_queue = true;
        self
    }

    /// The same pacing, waiting for receipt rather than acknowledgement where it can.
    pub(crate) fn by_receipt(mut self) -> Self {
        self.by_receipt = true;
        self
    }

    /// Waits until the server's end has received `sent` bytes (bounded by `ack_limit`), when
    /// pacing goes by receipt and that end can be seen; otherwise until our bytes are
    /// acknowledged ([`wait_acked`](Self::wait_acked)).
    pub(crate) async fn wait_delivered(
        &self,
        socket: &impl AsRawFd,
        ends: &mut Option<Ends>,
        sent: u64,
    ) -> io::Result<Acked> {
        let Some(at) = ends.as_mut().filter(|_| self.by_receipt) else {
            return self.wait_acked(socket).await;
        };
        let received = self
            .poll(|| match self.queues.received(at) {
                None => Ok(None),
                Some(received) if received >= sent => Ok(Some(true)),
                // A reset connection never receives more.
                Some(_) => unacknowledged(socket).map(|_| Some(false)),
            })
            .await?;
        match received {
            Some(acked) => Ok(acked),
            None => self.wait_acked(socket).await,
        }
    }

    /// Waits until the socket's bytes are acknowledged (bounded by `ack_limit`).
    pub(crate) async fn wait_acked(&self, socket: &impl AsRawFd) -> io::Result<Acked> {
        let acked = self
            .poll(|| unacknowledged(socket).map(|queued| Some(queued == 0)))
            .await?;
        Ok(acked.unwrap_or(Acked::NotWithinLimit))
    }

    /// Asks `delivered` until it says yes, for at most `ack_limit`: at once, then after each
    /// of a few yields (loopback is quick), then each millisecond. `None` when it cannot tell.
    async fn poll(
        &self,
        mut delivered: impl FnMut() -> io::Result<Option<bool>>,
    ) -> io::Result<Option<Acked>> {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            match delivered()? {
                None => return Ok(None),
                Some(true) => {
                    return Ok(Some(if start.elapsed() <= self.cycle_len() {
                        Acked::WithinCycle
                    } else {
                        Acked::Late
                    }));
                }
                Some(false) => {}
            }
            if start.elapsed() >= self.ack_limit {
                return Ok(Some(Acked::NotWithinLimit));
            }
            if spins < 16 {
                tokio::task::yield_now().await;
            } else {
                sleep(Duration::from_millis(1)).await;
            }
            spins += 1;
        }
    }

    /// The gap between an acknowledged chunk and the next one. Returns what was seen of the
    /// server's end (whether it had read everything, whether it had accepted the
    /// connection), or `None` when it cannot be seen.
    pub(crate) async fn pause(
        &self,
        socket: &impl AsRawFd,
        ends: &mut Option<Ends>,
    ) -> Option<AfterGap> {
        match self.gap {
            Gap::Fixed(d) => {
                if !d.is_zero() {
                    sleep(d).await;
                }
                self.look(ends)
            }
            Gap::Cycle(every) => {
                sleep_until(next_tick(self.epoch, every, Instant::now())).await;
                self.look(ends)
            }
            Gap::Adaptive(_) if self.own_queue => {
                // The wait for delivery already waited for the server to read: whether it
                // did is what the queue says now. (The accept cannot be seen; a server that
                // read has accepted.)
                let all_read = unacknowledged(socket).is_ok_and(|queued| queued == 0);
                Some(AfterGap {
                    all_read,
                    accepted: true,
                })
            }
            Gap::Adaptive(fallback) => {
                let Some(at) = ends.as_mut() else {
                    sleep(fallback).await;
                    return None;
                };
                match self.wait_read(at).await {
                    Some(read) => Some(read),
                    None => {
                        // Not visible from here: never ask again for this connection.
                        *ends = None;
                        sleep(fallback).await;
                        None
                    }
                }
            }
        }
    }

    /// What the server's end of the connection shows now, if it can be seen.
    pub(crate) fn look(&self, ends: &mut Option<Ends>) -> Option<AfterGap> {
        ends.as_mut()
            .and_then(|e| self.queues.server_end(e))
            .map(AfterGap::from)
    }

    /// Whether the server's send buffer for this connection is full now, if it can be seen
    /// (slow readers count the deliveries that made it so).
    pub(crate) fn server_send_full(&self, ends: Option<&Ends>) -> Option<bool> {
        self.queues.send_full(ends?)
    }

    /// Waits until the server's receive queue is empty (for at most [`READ_WAIT`]): spins
    /// (yielding to the other connections) for a moment, as a server on this machine reads
    /// within microseconds, then polls every millisecond.
    async fn wait_read(&self, ends: &mut Ends) -> Option<AfterGap> {
        let start = Instant::now();
        loop {
            let end = self.queues.server_end(ends)?;
            if end.unread == 0 {
                return Some(AfterGap::from(end));
            }
            let waited = start.elapsed();
            if waited >= self.ack_limit.min(READ_WAIT) {
                return Some(AfterGap::from(end));
            }
            if waited < SPIN {
                tokio::task::yield_now().await;
            } else {
                sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// How long bytes have waited unread in the server with no read seen anywhere, if they
    /// wait (only where the server's queues can be seen).
    pub(crate) fn unread_for(&self) -> Option<Duration> {
        self.queues.0.1.unread_for()
    }

    /// How long bytes have waited unread with no read seen since, however long ago they were
    /// last seen waiting.
    pub(crate) fn unread_since(&self) -> Option<Duration> {
        self.queues.0.1.unread_since()
    }

    /// What one "cycle" is in this run, for `mean_cycles_to_connect`: the fixed cycle, or
    /// the pause (at least a millisecond).
    pub(crate) fn cycle_len(&self) -> Duration {
        match self.gap {
            Gap::Fixed(d) | Gap::Cycle(d) | Gap::Adaptive(d) => d.max(Duration::from_millis(1)),
        }
    }
}

/// The first tick of the cycle (`epoch + k * every`) strictly after `now`.
fn next_tick(epoch: Instant, every: Duration, now: Instant) -> Instant {
    let every_ns = every.as_nanos().max(1);
    let since = now.saturating_duration_since(epoch).as_nanos();
    let ticks = since / every_ns + 1;
    let offset = ticks.saturating_mul(every_ns);
    epoch + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_ticks_are_shared_and_strictly_ahead() {
        let epoch = Instant::now();
        let every = Duration::from_millis(150);
        let at = |ms| epoch + Duration::from_millis(ms);
        assert_eq!(next_tick(epoch, every, at(0)), at(150));
        assert_eq!(next_tick(epoch, every, at(149)), at(150));
        assert_eq!(next_tick(epoch, every, at(150)), at(300));
        assert_eq!(next_tick(epoch, every, at(1000)), at(1050));
    }
}

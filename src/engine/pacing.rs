//! Keeping chunks apart: after each chunk, wait until the kernel reports every byte sent so
//! far acknowledged, then pause so the server has time to read the chunk on its own. This
//! is the only place in the crate that sleeps to pace traffic.
//!
//! On loopback the ACK returns microseconds after `send()`, long before the server reads:
//! the ACK alone keeps almost no boundary, the pause keeps them.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::time::{Instant, sleep};

nix::ioctl_read_bad!(siocoutq, libc::TIOCOUTQ, libc::c_int);

/// Bytes written to the socket that the peer has not acknowledged yet (SIOCOUTQ).
pub(crate) fn unacknowledged(socket: &impl AsRawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points to a live c_int;
    // the descriptor belongs to a socket the caller holds open.
    unsafe { siocoutq(socket.as_raw_fd(), &mut queued) }.map_err(io::Error::from)?;
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// How one connection paces its chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// Wait after a chunk is acknowledged, before the next.
    pub(crate) pause: Duration,
    /// Give up waiting for an acknowledgement after this long and send anyway.
    pub(crate) ack_limit: Duration,
}

/// How the wait for an acknowledgement went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acked {
    /// All bytes were acknowledged at the first look.
    AtOnce,
    /// They were after waiting.
    AfterWait,
    /// They were not within the limit.
    NotWithinLimit,
}

impl Pacing {
    /// Waits until the socket's bytes are acknowledged (bounded by `ack_limit`).
    pub(crate) async fn wait_acked(&self, socket: &impl AsRawFd) -> io::Result<Acked> {
        if unacknowledged(socket)? == 0 {
            return Ok(Acked::AtOnce);
        }
        let deadline = Instant::now() + self.ack_limit;
        let mut spins = 0u32;
        loop {
            // Yield a few times first (loopback ACKs are quick), then poll each millisecond.
            if spins < 16 {
                tokio::task::yield_now().await;
            } else {
                sleep(Duration::from_millis(1)).await;
            }
            spins += 1;
            if unacknowledged(socket)? == 0 {
                return Ok(Acked::AfterWait);
            }
            if Instant::now() >= deadline {
                return Ok(Acked::NotWithinLimit);
            }
        }
    }

    /// The pause between an acknowledged chunk and the next one.
    pub(crate) async fn pause(&self) {
        if !self.pause.is_zero() {
            sleep(self.pause).await;
        }
    }
}

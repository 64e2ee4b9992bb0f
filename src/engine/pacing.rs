//! Keeping chunks apart: after each chunk, wait until the kernel reports every byte sent so
//! far acknowledged, then pause so the server has time to read the chunk on its own. This
//! is the only place in the crate that sleeps to pace traffic.
//!
//! On loopback the ACK returns microseconds after `send()`, long before the server reads:
//! the ACK alone keeps almost no boundary, the pause keeps them.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};

nix::ioctl_read_bad!(siocoutq, libc::TIOCOUTQ, libc::c_int);

/// Bytes written to the socket that the peer has not acknowledged yet (SIOCOUTQ).
pub(crate) fn unacknowledged(socket: &impl AsRawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points to a live c_int;
    // the descriptor belongs to a socket the caller holds open.
    unsafe { siocoutq(socket.as_raw_fd(), &mut queued) }.map_err(io::Error::from)?;
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// What happens between an acknowledged chunk and the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Wait this long.
    Pause(Duration),
    /// Wait for the next tick of a fixed cycle shared by all connections (the original
    /// tool's `--cycle-ms`): at most one chunk per connection per cycle.
    Cycle(Duration),
}

/// How one connection paces its chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    pub(crate) gap: Gap,
    /// When the run's cycles began (for [`Gap::Cycle`]).
    pub(crate) epoch: Instant,
    /// Give up waiting for an acknowledgement after this long and send anyway.
    pub(crate) ack_limit: Duration,
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
    /// Waits until the socket's bytes are acknowledged (bounded by `ack_limit`).
    pub(crate) async fn wait_acked(&self, socket: &impl AsRawFd) -> io::Result<Acked> {
        if unacknowledged(socket)? == 0 {
            return Ok(Acked::WithinCycle);
        }
        let start = Instant::now();
        let deadline = start + self.ack_limit;
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
                return Ok(if start.elapsed() <= self.cycle_len() {
                    Acked::WithinCycle
                } else {
                    Acked::Late
                });
            }
            if Instant::now() >= deadline {
                return Ok(Acked::NotWithinLimit);
            }
        }
    }

    /// The gap between an acknowledged chunk and the next one.
    pub(crate) async fn pause(&self) {
        match self.gap {
            Gap::Pause(d) if d.is_zero() => {}
            Gap::Pause(d) => sleep(d).await,
            Gap::Cycle(every) => sleep_until(next_tick(self.epoch, every, Instant::now())).await,
        }
    }

    /// What one "cycle" is in this run, for `mean_cycles_to_connect`: the fixed cycle, or
    /// the pause (at least a millisecond).
    pub(crate) fn cycle_len(&self) -> Duration {
        match self.gap {
            Gap::Pause(d) | Gap::Cycle(d) => d.max(Duration::from_millis(1)),
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

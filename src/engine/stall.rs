//! A pause mid-message, and the probe that checks the others are still served meanwhile.
//!
//! Adaptive pacing sends the next chunk as soon as the server has read the last, so no client
//! ever pauses: a server that finishes a partial message with blocking reads (one client
//! that pauses mid-line freezes every other client) looks fine. A [`Stall`] makes one
//! connection hold back the rest of its message; while it waits, a probe connection sends
//! the same blob whole and checks that the server accepts it, reads it and, when an answer
//! is expected, starts answering. The probe gets three quarters of the pause, so the
//! stalled connection is still silent when the probe gives up.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use super::pacing::{Ends, Pacing};
use super::socket::{self, Opened, Stream, open, write_chunk};
use crate::config::Endpoint;
use crate::tls::Tls;
use crate::wire::{ConnectError, Listen, Neglect, Unserved};

/// What a pause came to.
#[derive(Debug, Default)]
pub(crate) struct Paused {
    /// What the probe was denied, if the server did not serve it.
    pub(crate) neglect: Option<Neglect>,
    /// What the probe sent, if it connected.
    pub(crate) probe: Option<ProbeSent>,
}

/// The probe connection, for the delivery record: its local port and the sizes of the
/// writes the kernel accepted (the blob whole, as one chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeSent {
    pub(crate) local_port: u16,
    pub(crate) accepted: Vec<usize>,
}

/// How often the probe looks at the server's end of its connection.
const LOOK_EVERY: Duration = Duration::from_millis(1);

/// The probe of a paused connection: what it needs of that connection (the server, the blob
/// it sends whole, what answer to wait for, TLS, and how to look at the server's end).
pub(super) struct PauseProbe<'a> {
    pub(super) addr: &'a Endpoint,
    pub(super) bytes: &'a [u8],
    pub(super) listen: Listen,
    pub(super) tls: Option<&'a Tls>,
    pub(super) pacing: &'a Pacing,
}

impl PauseProbe<'_> {
    /// Pauses for `pause`, probing the server meanwhile: what the probe was denied, if the
    /// server did not serve it in time, and what the probe sent.
    pub(super) async fn pause(&self, pause: Duration) -> Paused {
        let started = Instant::now();
        let give_up = started + pause * 3 / 4;
        let mut sent = None;
        let (unserved, ()) =
            tokio::join!(self.probe(give_up, &mut sent), sleep_until(started + pause));
        Paused {
            neglect: unserved.map(|unserved| Neglect {
                pause,
                waited: give_up - started,
                unserved,
            }),
            probe: sent,
        }
    }

    /// One probe delivery of the whole blob, until `give_up`: `None` when the server served
    /// it (or when there is no way to tell from here). What it sent goes to `sent`.
    async fn probe(&self, give_up: Instant, sent: &mut Option<ProbeSent>) -> Option<Unserved> {
        let wants_answer = matches!(self.listen, Listen::Await { expect, .. } if expect != Some(0));
        let limit = give_up.saturating_duration_since(Instant::now());
        let stream = match socket::connect(self.addr, limit).await {
            Err(ConnectError::TimedOut(_)) => return Some(Unserved::Accept),
            // Refused or failed on our side: the run's own connections judge that.
            Err(_) => return None,
            Ok(stream) => stream,
        };
        if let Stream::Tcp(tcp) = &stream {
            let _ = tcp.set_nodelay(true);
        }
        let limit = give_up.saturating_duration_since(Instant::now());
        let Opened {
            mut reader,
            mut writer,
            local,
            ..
        } = match open(stream, self.tls, limit).await {
            Ok(opened) => opened,
            // A handshake the server did not finish in time: it did not serve the probe.
            Err(ConnectError::TimedOut(_)) => return Some(Unserved::Read),
            Err(_) => return None,
        };
        let mut ends = local
            .zip(self.addr.tcp())
            .map(|(client, server)| Ends { server, client });
        let local_port = ends.map_or(0, |e| e.client.port());
        let probe = sent.insert(ProbeSent {
            local_port,
            accepted: Vec::new(),
        });
        let write = write_chunk(&mut writer, self.bytes, &mut probe.accepted);
        match timeout_at(give_up, write).await {
            Err(_) => return Some(Unserved::Read),
            Ok(Err(_)) => return None,
            Ok(Ok(())) => {}
        }
        let mut buf = [0u8; 256];
        let last = loop {
            // Bytes, or the server closed (or reset): it dealt with us.
            let answered = timeout(LOOK_EVERY, reader.read(&mut buf)).await.is_ok();
            if answered {
                return None;
            }
            let seen = self.pacing.look(&mut ends);
            if !wants_answer {
                match seen {
                    None => return None, // nothing to tell by
                    Some(seen) if seen.accepted && seen.all_read => return None,
                    Some(_) => {}
                }
            }
            if Instant::now() >= give_up {
                break seen;
            }
        };
        Some(match last {
            Some(seen) if !seen.accepted => Unserved::Accept,
            Some(seen) if !seen.all_read => Unserved::Read,
            _ => Unserved::Answer,
        })
    }
}

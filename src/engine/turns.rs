//! Turns of a conversation: before the bytes at a wait's offset, the writer waits for the
//! server as the wait says, watching what the reader has heard so far.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until, timeout};

use super::server_frames::ServerFrames;
use crate::corpus::WaitFor;
use crate::split::http2::FrameHeader;

/// What the server has said so far, as the reader heard it, shared with the writer of a
/// conversation.
#[derive(Default)]
pub(crate) struct SoFar {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    received: u64,
    /// `received` when the last wait ended (0 before the first): a pattern is looked for
    /// in what the server sent since, so an answer that came before its wait began counts.
    turn_began: u64,
    last: Option<Instant>,
    closed: bool,
    /// The server's HTTP/2 frames, for frame waits.
    frames: ServerFrames,
}

/// Bytes kept for pattern waits: a pattern is looked for in the last ones.
const KEEP: usize = 64 * 1024;

impl SoFar {
    /// The reader got `bytes`.
    pub(crate) fn got(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = state.received;
        state.frames.got(bytes, before);
        state.received += bytes.len() as u64;
        state.bytes.extend_from_slice(bytes);
        let excess = state.bytes.len().saturating_sub(KEEP);
        state.bytes.drain(..excess);
        state.last = Some(Instant::now());
        drop(state);
        self.changed.notify_waiters();
    }

    /// The reader is done: nothing more will come.
    pub(crate) fn ended(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.changed.notify_waiters();
    }

    /// Waits (at most `limit`) for the server as `until` says; false when `limit` ran out
    /// first (a server that closed ends the wait too). A TLS mark is no wait: the writer does
    /// the handshake there.
    pub(crate) async fn wait(&self, until: &WaitFor, limit: Duration) -> bool {
        if *until == WaitFor::Tls {
            return true;
        }
        let ended = timeout(limit, self.until(until)).await.is_ok();
        // The next turn's pattern is looked for in what comes after this wait.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.turn_began = state.received;
        let began = state.turn_began;
        state.frames.forget_until(began);
        ended
    }

    async fn until(&self, until: &WaitFor) {
        let (start, began) = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (state.turn_began, Instant::now())
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let quiet_until = {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.closed {
                    return;
                }
                match until {
                    WaitFor::Bytes(n) if state.received >= *n => return,
                    WaitFor::Pattern(p) => {
                        let new = (state.received - start).min(state.bytes.len() as u64) as usize;
                        let since = &state.bytes[state.bytes.len() - new..];
                        if since.windows(p.len()).any(|w| w == p.as_slice()) {
                            return;
                        }
                        None
                    }
                    WaitFor::Quiet(d) => {
                        let from = state.last.map_or(began, |l| l.max(began));
                        if Instant::now() >= from + *d {
                            return;
                        }
                        Some(from + *d)
                    }
                    WaitFor::Frame(frame) => {
                        let is = |h: &FrameHeader| frame.is(h.kind, h.flags, h.stream);
                        if state.frames.any_since(start, is) {
                            return;
                        }
                        None
                    }
                    WaitFor::Bytes(_) | WaitFor::Tls => None,
                }
            };
            match quiet_until {
                Some(at) => {
                    tokio::select! {
                        () = changed => {}
                        () = sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pattern_counts_from_the_previous_wait_even_if_it_came_early() {
        let so_far = SoFar::default();
        let limit = Duration::from_millis(300);
        so_far.got(b"220 ready\r\n");
        so_far.wait(&WaitFor::Bytes(11), limit).await;
        // The answer to the next part comes before its wait begins: it counts.
        so_far.got(b"PONG\r\n");
        let started = Instant::now();
        let pong = WaitFor::Pattern(b"PONG".to_vec());
        so_far.wait(&pong, limit).await;
        assert!(started.elapsed() < limit, "{:?}", started.elapsed());
        // What came before the previous wait ended does not.
        let started = Instant::now();
        so_far.wait(&pong, limit).await;
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_frame_wait_ends_when_its_frame_has_come_in_any_reads() {
        use crate::corpus::Http2Frame;
        use crate::split::http2::tests::h2;
        use crate::split::http2::{ACK, HEADERS, SETTINGS};
        let so_far = SoFar::default();
        let limit = Duration::from_millis(300);
        // The server's SETTINGS and its ack in one write, the ack's header cut in two.
        let mut opening = h2(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        opening.extend(h2(SETTINGS, ACK, 0, &[]));
        so_far.got(&opening[..20]);
        so_far.got(&opening[20..]);
        let settings = WaitFor::Frame(Http2Frame::SettingsAck);
        assert!(so_far.wait(&settings, limit).await);
        // An answer on stream 3 does not end a wait for stream 1's.
        so_far.got(&h2(HEADERS, 5, 3, &[0x88]));
        let one = WaitFor::Frame(Http2Frame::Headers { stream: Some(1) });
        assert!(!so_far.wait(&one, limit).await, "the limit ran out");
        // Stream 1's answer, sent as the wait goes on, ends it.
        let writer = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            so_far.got(&h2(HEADERS, 5, 1, &[0x88]));
        };
        let (ended, ()) = tokio::join!(so_far.wait(&one, limit), writer);
        assert!(ended);
    }
}

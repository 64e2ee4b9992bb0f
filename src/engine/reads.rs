//! Whether the server still reads: every look at a server's receive queue (made by pacing,
//! between two chunks) tells whether bytes wait unread there. When bytes have waited on
//! every accepted connection looked at, and no queue was seen empty, for a few seconds, the
//! server has stopped reading altogether: frozen (SIGSTOP) or deadlocked. Connections the
//! server has not accepted yet do not count: a server that stops accepting is another
//! finding (its connects time out). Shared by the run's connections; lock-free.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::platform::ServerEnd;

/// What the run's connections saw of the server's reading.
#[derive(Debug)]
pub(crate) struct ReadWatch {
    epoch: Instant,
    /// Milliseconds since `epoch`, plus one, of the first look that found bytes waiting
    /// since a queue was last seen empty; 0 when none waits.
    waiting_since: AtomicU64,
    /// The same, of the latest look that found bytes waiting.
    waiting_seen: AtomicU64,
}

/// Bytes must still be seen waiting this recently: connections that stopped looking (their
/// server closed them, or they wait for an acknowledgement) say nothing of its reading.
const FRESH: Duration = Duration::from_millis(1500);

impl ReadWatch {
    pub(crate) fn new() -> Self {
        ReadWatch {
            epoch: Instant::now(),
            waiting_since: AtomicU64::new(0),
            waiting_seen: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// One look at a server's end of a connection.
    pub(crate) fn saw(&self, end: ServerEnd) {
        if !end.accepted {
            return;
        }
        if end.unread == 0 {
            self.waiting_since.store(0, Ordering::Relaxed);
        } else {
            let now = self.now();
            self.waiting_seen.store(now, Ordering::Relaxed);
            let _ =
                self.waiting_since
                    .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// How long bytes have waited with no queue seen empty since, however long ago they
    /// were last seen waiting: when connects stop completing too, no connection can look
    /// again, and the last look still stands.
    pub(crate) fn unread_since(&self) -> Option<Duration> {
        let since = self.waiting_since.load(Ordering::Relaxed);
        (since != 0).then(|| Duration::from_millis(self.now().saturating_sub(since)))
    }

    /// How long bytes have waited with no queue seen empty since, if they still wait.
    pub(crate) fn unread_for(&self) -> Option<Duration> {
        let since = self.waiting_since.load(Ordering::Relaxed);
        let seen = self.waiting_seen.load(Ordering::Relaxed);
        let now = self.now();
        let fresh = u64::try_from(FRESH.as_millis()).unwrap_or(u64::MAX);
        (since != 0 && now.saturating_sub(seen) <= fresh)
            .then(|| Duration::from_millis(now.saturating_sub(since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiting_bytes_count_until_any_queue_is_seen_empty() {
        let accepted = |unread| ServerEnd {
            unread,
            accepted: true,
        };
        let watch = ReadWatch::new();
        assert_eq!(watch.unread_for(), None);
        watch.saw(accepted(5));
        tokio::time::advance(Duration::from_millis(1500)).await;
        watch.saw(accepted(7));
        assert_eq!(watch.unread_for(), Some(Duration::from_millis(1500)));
        watch.saw(accepted(0));
        assert_eq!(watch.unread_for(), None, "a read anywhere resets it");
        watch.saw(ServerEnd {
            unread: 9,
            accepted: false,
        });
        assert_eq!(
            watch.unread_for(),
            None,
            "not accepted yet: not the reading's fault"
        );
        watch.saw(accepted(3));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(watch.unread_for(), Some(Duration::from_millis(200)));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(
            watch.unread_for(),
            None,
            "no connection has looked lately: nothing is known of the reading"
        );
        assert_eq!(
            watch.unread_since(),
            Some(Duration::from_millis(3200)),
            "but the last look still stands"
        );
    }
}

//! When reading an answer stops, and what the stop means: the time a delivery's reader
//! waits until, once its last chunk went out, for each way of listening.

use tokio::time::Instant;

use crate::wire::{Listen, ReadEnd};

/// When to stop reading, and what that stop means, once the last chunk went out at `done`.
pub(super) fn stop_time(
    listen: Listen,
    done: Instant,
    last_byte_at: Option<Instant>,
    received: u64,
) -> (Instant, ReadEnd) {
    match listen {
        Listen::HalfClose { linger } => (done + linger, ReadEnd::Lingered),
        Listen::Await {
            expect,
            settle,
            limit,
            until_close,
        } => {
            let give_up = done + limit;
            let enough = received >= expect.unwrap_or(1) as u64;
            if !enough {
                return (give_up, ReadEnd::TimedOut);
            }
            if until_close {
                // Only the close completes it: kept open means open for the whole limit.
                return (give_up, ReadEnd::Settled);
            }
            let quiet_from = last_byte_at.map_or(done, |t| t.max(done));
            ((quiet_from + settle).min(give_up), ReadEnd::Settled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn awaiting_stops_after_the_expected_bytes_and_a_quiet_settle() {
        let done = Instant::now();
        let ms = Duration::from_millis;
        let listen = Listen::Await {
            expect: Some(10),
            settle: ms(10),
            limit: ms(500),
            until_close: false,
        };
        assert_eq!(
            stop_time(listen, done, None, 0),
            (done + ms(500), ReadEnd::TimedOut)
        );
        assert_eq!(
            stop_time(listen, done, Some(done + ms(3)), 10),
            (done + ms(13), ReadEnd::Settled)
        );
        let no_length = Listen::Await {
            expect: None,
            settle: ms(10),
            limit: ms(500),
            until_close: false,
        };
        assert_eq!(stop_time(no_length, done, None, 0).1, ReadEnd::TimedOut);
        assert_eq!(
            stop_time(no_length, done, Some(done), 1),
            (done + ms(10), ReadEnd::Settled)
        );
        let nothing_expected = Listen::Await {
            expect: Some(0),
            settle: ms(10),
            limit: ms(500),
            until_close: false,
        };
        assert_eq!(
            stop_time(nothing_expected, done, None, 0),
            (done + ms(10), ReadEnd::Settled)
        );
        assert_eq!(
            stop_time(Listen::HalfClose { linger: ms(50) }, done, None, 0),
            (done + ms(50), ReadEnd::Lingered)
        );
    }

    #[test]
    fn an_answer_that_ended_with_a_close_is_complete_only_at_the_close() {
        let done = Instant::now();
        let ms = Duration::from_millis;
        let listen = Listen::Await {
            expect: Some(10),
            settle: ms(1),
            limit: ms(3000),
            until_close: true,
        };
        // All the bytes came at once: still open after a quiet millisecond is no verdict.
        assert_eq!(
            stop_time(listen, done, Some(done + ms(3)), 10),
            (done + ms(3000), ReadEnd::Settled)
        );
        assert_eq!(
            stop_time(listen, done, Some(done + ms(3)), 4),
            (done + ms(3000), ReadEnd::TimedOut)
        );
    }
}

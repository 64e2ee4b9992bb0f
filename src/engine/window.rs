//! How many deliveries may be in flight at once, when their answers are awaited: at most the
//! connections asked for, fewer while the server queues them. A server that answers about a
//! hundred requests a second, given a hundred connections at once, answers each a second
//! late: no more boundaries are tested per second than with ten, but every answer waits in
//! its queue, and so does the verdict gate, which needs the server to itself. Like TCP's
//! congestion window: one more in flight for each answer that came about as fast as the
//! fastest, a quarter fewer (at most once per [`COOL`]) when one came much later.

use std::time::Duration;

use tokio::time::Instant;

/// The fewest deliveries kept in flight.
const FLOOR: usize = 4;

/// How many are in flight before the first answers come back.
const START: usize = 8;

/// An answer counts as queued when it took this many times as long as the fastest one
/// lately, and at least [`QUEUED_BY`] longer.
const QUEUED_FACTOR: u32 = 8;
const QUEUED_BY: Duration = Duration::from_millis(50);

/// At most one decrease in this long: the answers in flight when the window shrank still
/// show the old queue.
const COOL: Duration = Duration::from_millis(250);

/// The fastest answer is forgotten only at the floor: there, an answer still late is the
/// server's own pace (it slowed down for good), and the fastest is raised by 1/`FORGET` of
/// the way toward it. Above the floor, late answers are taken for a queue.
const FORGET: u32 = 16;

#[derive(Debug)]
pub(crate) struct Window {
    most: usize,
    limit: usize,
    fastest: Option<Duration>,
    cut_at: Option<Instant>,
}

impl Window {
    /// A window of at most `most` deliveries in flight. Where answers are `awaited` it
    /// starts at [`START`] and opens by one per prompt answer (doubling each round trip, as
    /// TCP's slow start), so a slow server is not handed `most` requests before any answer
    /// tells how fast it is; elsewhere it stays at `most`.
    pub(crate) fn new(most: usize, awaited: bool) -> Self {
        Window {
            most,
            limit: if awaited { START.min(most) } else { most },
            fastest: None,
            cut_at: None,
        }
    }

    /// How many deliveries may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Halves the most deliveries in flight for the rest of the run, to half of the
    /// `in_flight` when the server fell behind if that is fewer (one at least): the server
    /// did not accept connections as fast as that many came. Returns the new most.
    pub(crate) fn lower(&mut self, in_flight: usize) -> usize {
        self.most = (self.most / 2).min(in_flight / 2).max(1);
        self.limit = self.limit.min(self.most);
        self.most
    }

    /// Takes in how long an answer took after the last chunk, at `now`.
    pub(crate) fn answered(&mut self, waited: Duration, now: Instant) {
        let at_floor = self.limit <= FLOOR.min(self.most);
        let fastest = match self.fastest {
            Some(f) if f <= waited && at_floor => f + (waited - f) / FORGET,
            Some(f) if f <= waited => f,
            _ => waited,
        };
        self.fastest = Some(fastest);
        let queued = waited > fastest * QUEUED_FACTOR && waited > fastest + QUEUED_BY;
        if !queued {
            self.limit = (self.limit + 1).min(self.most);
            return;
        }
        if self.cut_at.is_some_and(|at| now.duration_since(at) < COOL) {
            return;
        }
        self.cut_at = Some(now);
        self.limit = (self.limit - self.limit / 4).max(FLOOR.min(self.most));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_answers_shrink_the_window_and_prompt_ones_open_it_again() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        assert_eq!(Window::new(100, false).limit(), 100);
        let mut window = Window::new(100, true);
        assert_eq!(window.limit(), 8);
        for i in 0..92u64 {
            window.answered(ms(2), start + ms(i));
        }
        assert_eq!(window.limit(), 100);
        // An answer a second late: a quarter fewer, once per cool-down.
        window.answered(ms(1000), start + ms(10));
        assert_eq!(window.limit(), 75);
        window.answered(ms(1000), start + ms(20));
        assert_eq!(window.limit(), 75);
        for i in 0..13u64 {
            window.answered(ms(900), start + ms(300 + 300 * i));
        }
        assert_eq!(window.limit(), 4);
        // Still late at the floor: the server's own pace now, learnt, and the window opens.
        for i in 0..40u64 {
            window.answered(ms(900), start + ms(4500 + 300 * i));
        }
        assert!(window.limit() > 8, "{window:?}");
        // Prompt answers again: one more each, up to what was asked.
        for i in 0..200u64 {
            window.answered(ms(3), start + ms(20000 + i));
        }
        assert_eq!(window.limit(), 100);
        // A few milliseconds more is no queue.
        window.answered(ms(30), start + ms(30000));
        assert_eq!(window.limit(), 100);
    }

    #[test]
    fn slow_accepts_halve_the_most_for_good() {
        let start = Instant::now();
        let mut window = Window::new(100, false);
        assert_eq!(window.lower(100), 50);
        assert_eq!(window.limit(), 50);
        // Prompt answers open it up to the new most, no further.
        for i in 0..100u64 {
            window.answered(Duration::from_millis(2), start + Duration::from_millis(i));
        }
        assert_eq!(window.limit(), 50);
        // Half of those in flight when it fell behind, if fewer.
        assert_eq!(window.lower(30), 15);
        for _ in 0..10 {
            window.lower(100);
        }
        assert_eq!(window.limit(), 1);
    }
}

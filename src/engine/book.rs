//! The run loop's bookkeeping, the single owner of the run's stats and in-flight cases:
//! when a bug shows, it says which cases may have caused it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::{AbortHandle, Id};
use tokio::time::Instant;

use super::seen::{Seen, Stood};
use super::{Found, Progress};
use crate::case::Drawn;
use crate::corpus::Blob;
use crate::oracle::FindingKind;
use crate::stats::{InFlight, Stats, StatsCollector};

/// Cases that finished this shortly before the server was seen dying are candidates too: the
/// server may have crashed on the last bytes of a delivery that looked complete from our
/// side (a dying process closes its sockets before its exit is reaped).
const RECENT_WINDOW: Duration = Duration::from_millis(200);
/// How much earlier than the first sign of trouble the crash may have been.
const CRASH_SLACK: Duration = Duration::from_millis(10);

/// How many split deliveries with a protocol failure are counted as their blob's own before
/// the verdict gate asks the blob sent whole again (the server may have rejected it only for
/// a while, as under load).
const REASK_WHOLE: u32 = 50;

/// A delivery under way, as the run loop tracks it.
pub(super) struct Running<'a> {
    pub(super) blob: &'a Blob,
    pub(super) drawn: Drawn,
    pub(super) progress: Arc<Progress>,
    pub(super) started: Instant,
    pub(super) abort: AbortHandle,
}

impl Running<'_> {
    fn stalling(&self) -> bool {
        self.progress.stalling.load(Ordering::Relaxed)
    }

    pub(super) fn seen(&self, stood: Stood) -> Seen {
        Seen::new(self.drawn.case.clone(), self.blob, stood)
            .iteration(self.drawn.iteration)
            .sent(
                self.progress.chunks.load(Ordering::Relaxed),
                self.progress.bytes.load(Ordering::Relaxed),
            )
    }
}

/// The run's bookkeeping.
pub(super) struct Book<'a> {
    pub(super) stats: StatsCollector,
    pub(super) started: Instant,
    pub(super) running: HashMap<Id, Running<'a>>,
    /// Finished deliveries: when, which, and whether the server closed them cleanly.
    recent: VecDeque<(Instant, Running<'a>, bool)>,
    troubles: VecDeque<Instant>,
    /// How many finished deliveries are kept as possible candidates.
    keep_recent: usize,
    /// Blobs whose answer sent whole had a protocol failure when the verdict gate last asked,
    /// with how many split deliveries with one were counted since without asking again.
    whole_fails: HashMap<String, u32>,
}

impl<'a> Book<'a> {
    pub(super) fn new(stats: StatsCollector, keep_recent: usize) -> Self {
        Book {
            stats,
            started: Instant::now(),
            running: HashMap::new(),
            recent: VecDeque::new(),
            troubles: VecDeque::new(),
            keep_recent,
            whole_fails: HashMap::new(),
        }
    }

    /// The verdict gate found that `blob` sent whole gets a protocol failure too.
    pub(super) fn whole_fails(&mut self, blob: &str) {
        self.whole_fails.insert(blob.to_owned(), 0);
    }

    /// True when a split delivery of `blob` whose answer has a protocol failure is counted
    /// as the blob's own (`unsplit_fails=`) without the verdict gate: its whole answer had
    /// one when last asked, fewer than [`REASK_WHOLE`] such deliveries ago. A blob the server
    /// rejects whole would otherwise take every delivery through the gate.
    pub(super) fn fails_whole(&mut self, blob: &str) -> bool {
        let Some(since) = self.whole_fails.get_mut(blob) else {
            return false;
        };
        *since += 1;
        if *since > REASK_WHOLE {
            self.whole_fails.remove(blob);
            return false;
        }
        self.stats.unsplit_fails();
        true
    }

    /// Every candidate cause when the server is seen dying at `now`. The crash happened no later
    /// than the first sign of trouble (a connection cut or refused) shortly before, so a
    /// candidate started before that moment and was in flight, or finished around it. A
    /// delivery the server closed cleanly before the crash is no candidate: the server was
    /// alive after reading all of it. In flight first, most recently started first.
    fn around(&mut self, now: Instant) -> Vec<Seen> {
        let crash = self
            .troubles
            .iter()
            .copied()
            .find(|t| now.duration_since(*t) <= RECENT_WINDOW)
            .unwrap_or(now);
        let mut running: Vec<&Running<'a>> = self
            .running
            .values()
            .filter(|r| r.started <= crash)
            .collect();
        running.sort_by_key(|r| std::cmp::Reverse(r.started));
        let mut out: Vec<Seen> = running.iter().map(|r| r.seen(Stood::InFlight)).collect();
        out.extend(
            self.recent
                .iter()
                .rev()
                .filter(|(done, r, clean)| {
                    r.started <= crash
                        && now.duration_since(*done) <= RECENT_WINDOW
                        && (!clean || *done + CRASH_SLACK >= crash)
                })
                .map(|(done, r, _)| r.seen(Stood::FinishedBefore(now.duration_since(*done)))),
        );
        out
    }

    /// Notes a sign of trouble: a delivery cut short by the server, or a failed connect.
    pub(super) fn trouble(&mut self, at: Instant) {
        while self
            .troubles
            .front()
            .is_some_and(|t| at.duration_since(*t) > RECENT_WINDOW)
        {
            self.troubles.pop_front();
        }
        self.troubles.push_back(at);
    }

    /// Takes a finished delivery out of the running set, forgetting recent ones that are
    /// too old (or too many) to be candidates.
    pub(super) fn finish(&mut self, id: Id, now: Instant) -> Option<Running<'a>> {
        while self.recent.len() >= self.keep_recent
            || self
                .recent
                .front()
                .is_some_and(|(t, _, _)| now.duration_since(*t) > RECENT_WINDOW)
        {
            self.recent.pop_front();
        }
        self.running.remove(&id)
    }

    /// Keeps a finished delivery as a possible candidate for a while.
    pub(super) fn remember(&mut self, now: Instant, running: Running<'a>, clean: bool) {
        self.recent.push_back((now, running, clean));
    }

    /// True while a delivery pauses mid-message: what other deliveries see of the server
    /// then may be its doing.
    pub(super) fn stalling(&self) -> bool {
        self.running.values().any(Running::stalling)
    }

    /// Cuts short every delivery in flight but those pausing mid-message (whose probe is
    /// still to tell).
    pub(super) fn abort_all_but_stalling(&self) {
        for running in self.running.values().filter(|r| !r.stalling()) {
            running.abort.abort();
        }
    }

    /// The deliveries in flight now, as the victims of one that paused mid-message.
    pub(super) fn victims(&self) -> Vec<Seen> {
        let mut running: Vec<&Running<'a>> = self.running.values().collect();
        running.sort_by_key(|r| std::cmp::Reverse(r.started));
        running.iter().map(|r| r.seen(Stood::Victim)).collect()
    }

    pub(super) fn stats(&self) -> Stats {
        self.stats.snapshot(self.started.elapsed())
    }

    /// Deliveries in flight that pause mid-message or read slowly: they run beside the
    /// others.
    pub(super) fn beside(&self) -> usize {
        self.running
            .values()
            .filter(|r| r.drawn.case.takes_its_time())
            .count()
    }

    /// The stats a finding shows: what was delivered, the deliveries still in flight with
    /// the chunks they had sent counted too (a crash mid-delivery is what they show).
    fn finding_stats(&self) -> Stats {
        let in_flight = self.running.values().map(|running| InFlight {
            blob: running.blob.name(),
            splits: running.drawn.case.splits(),
            chunks: running.progress.chunks.load(Ordering::Relaxed) as u64,
            bytes: running.progress.bytes.load(Ordering::Relaxed) as u64,
        });
        self.stats.snapshot_with(self.started.elapsed(), in_flight)
    }

    /// A finding about one delivery's own response: that delivery is the culprit.
    pub(super) fn found_in(&mut self, kind: FindingKind, culprit: &Running<'a>) -> Found {
        Found {
            kind,
            seen: vec![culprit.seen(Stood::Culprit)],
            stats: self.finding_stats(),
        }
    }

    /// A finding about the server as a whole made while `replayed` was delivered again alone:
    /// that case first, then every other that may have caused it (a crash from before the
    /// replay may show only during it).
    pub(super) fn found_replaying(&mut self, kind: FindingKind, replayed: &Running<'a>) -> Found {
        let mut found = self.found(kind);
        found.seen.insert(0, replayed.seen(Stood::Replayed));
        found
    }

    /// A finding about the server as a whole: every case that may have caused it.
    pub(super) fn found(&mut self, kind: FindingKind) -> Found {
        Found {
            kind,
            seen: self.around(Instant::now()),
            stats: self.finding_stats(),
        }
    }
}

//! Run counters and their one-line form, which reads like the original tool's stats line.

use std::fmt;
use std::time::Duration;

use crate::split::{Coverage, Splits};

/// What a run did so far.
///
/// `mean_cycles_to_connect` and `ready_to_send` keep the original tool's meanings: the
/// first is a moving average of how many cycles (pauses) a connect took, where above 1.00
/// means latency or an overloaded server; the second is the share of chunks acknowledged
/// within one cycle, where below 1.00 means latency or delayed ACKs from a busy server. For
/// a server on this machine, `unread_before_next` says directly how many chunks went out
/// before the server had read the previous one (boundaries at risk of merging).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Full passes through the blob list.
    pub rounds: u64,
    /// Deliveries finished (whole, closed early on purpose, or closed by the server).
    pub deliveries: u64,
    /// Deliveries closed early on purpose (the close chance).
    pub closed_early: u64,
    /// Deliveries the server closed or reset before the whole blob was sent.
    pub closed_by_server: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Bytes the server sent back.
    pub received: u64,
    /// Moving average of the cycles a connect took (1.00 is healthy).
    pub mean_cycles_to_connect: f64,
    /// Share of chunks whose bytes were all acknowledged within one cycle (the pause, or
    /// the fixed cycle) when the next was due (1.00 is healthy).
    pub ready_to_send: f64,
    /// Chunks sent while the server had not yet read the one before, where its receive queue
    /// can be seen (a server on this machine): each is a boundary that may have been
    /// merged. Zero with the default pacing, which waits for the queue to empty.
    pub unread_before_next: u64,
    /// Times the server's receive queue was looked at before a chunk.
    pub read_checks: u64,
    /// Times a connect found no free local port (ephemeral ports in TIME_WAIT) and the run
    /// slowed down to let them free up.
    pub port_waits: u64,
    /// Share of the blobs' inner offsets that have been a chunk boundary on the wire.
    pub boundary_coverage: f64,
    /// Share of the positions 1 to 8 bytes into each record of each blob (records begin
    /// after line ends and NUL bytes, or at length prefixes) that have been a boundary.
    pub record_coverage: f64,
    /// Findings about an answer that did not pass the verdict gate: delivered again alone,
    /// beside fresh whole answers, the case did not fail every time. Other deliveries
    /// disturbed it (shared state in the server), or the server was not ready: no bug.
    pub unconfirmed: u64,
    /// The first few unconfirmed cases, as case strings, to replay by hand.
    pub unconfirmed_cases: Vec<String>,
    /// Findings about an answer that passed the gate only once what varies in the blob's own
    /// whole answer (a date, an id, a random token, the order of records) was learnt.
    pub varied: u64,
    /// Findings about an answer whose blob, sent whole in one write, failed the same way:
    /// no boundary is to blame, so no finding (a warning in the stats line).
    pub unsplit_fails: u64,
    /// Deliveries that paused mid-message while a probe checked that the server still
    /// served other clients.
    pub paused: u64,
    /// Deliveries that read their response slowly (a small receive buffer and segment size,
    /// small reads with pauses).
    pub slow_reads: u64,
    /// Slow-reading deliveries during which the server's send buffer was seen full at least
    /// once: its `write()` came up short or failed with `EAGAIN` (where its socket can be seen).
    pub backpressured: u64,
    /// Time spent fuzzing.
    pub elapsed: Duration,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            rounds: 0,
            deliveries: 0,
            closed_early: 0,
            closed_by_server: 0,
            chunks: 0,
            bytes: 0,
            received: 0,
            mean_cycles_to_connect: 1.0,
            ready_to_send: 1.0,
            port_waits: 0,
            unread_before_next: 0,
            read_checks: 0,
            boundary_coverage: 0.0,
            record_coverage: 0.0,
            unconfirmed: 0,
            unconfirmed_cases: Vec::new(),
            varied: 0,
            unsplit_fails: 0,
            paused: 0,
            slow_reads: 0,
            backpressured: 0,
            elapsed: Duration::ZERO,
        }
    }
}

impl Stats {
    /// Chunks written per second of fuzzing.
    pub fn chunks_per_sec(&self) -> f64 {
        per_sec(self.chunks, self.elapsed)
    }

    /// Deliveries finished per second of fuzzing.
    pub fn deliveries_per_sec(&self) -> f64 {
        per_sec(self.deliveries, self.elapsed)
    }
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The line for people, read at a glance: how fast, how much of the blobs' boundaries and
/// records was covered, what was held back, and the notes that need attention. The original
/// tool's fields are [`Stats::original`].
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Stats: deliveries={} ({:.0}/s), boundaries covered={:.1}%, record starts={:.1}%, unconfirmed={}, paused={}, slow reads={}, elapsed={:.1}s",
            self.deliveries,
            self.deliveries_per_sec(),
            self.boundary_coverage * 100.0,
            self.record_coverage * 100.0,
            self.unconfirmed,
            self.paused,
            self.slow_reads,
            self.elapsed.as_secs_f64(),
        )?;
        self.notes(f)
    }
}

/// The stats line with the original tool's fields first (`rounds`, `mean_cycles_to_connect`,
/// `ready_to_send`), then every counter: [`Stats::original`].
pub struct OriginalStats<'a>(&'a Stats);

impl Stats {
    /// The stats line as the original tool printed it, every counter after its fields
    /// (`--original-stats` on the command line).
    pub fn original(&self) -> OriginalStats<'_> {
        OriginalStats(self)
    }
}

impl fmt::Display for OriginalStats<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "Stats: rounds={}, mean_cycles_to_connect={:.2}, ready_to_send={:.2}, deliveries={}, chunks={}, bytes={}, received={}, boundaries={:.1}%, records={:.1}%, paused={}, slow={}, backpressured={}, elapsed={:.1}s, chunks/s={:.0}",
            s.rounds,
            s.mean_cycles_to_connect,
            s.ready_to_send,
            s.deliveries,
            s.chunks,
            s.bytes,
            s.received,
            s.boundary_coverage * 100.0,
            s.record_coverage * 100.0,
            s.paused,
            s.slow_reads,
            s.backpressured,
            s.elapsed.as_secs_f64(),
            s.chunks_per_sec()
        )?;
        s.notes(f)
    }
}

impl Stats {
    /// What needs attention, after either line: boundaries at risk, answers held back, ports
    /// that ran out.
    fn notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Where the server's reads are watched, `unread_before_next` says directly whether
        // chunks may have merged; elsewhere a low ready_to_send is the only sign.
        if self.deliveries > 0 && self.read_checks == 0 && self.ready_to_send < SLOW_READY {
            write!(
                f,
                " (warning: ready_to_send={:.2}, below {SLOW_READY:.2}: the server is slow to take its bytes, so the kernel may merge chunks and boundaries are lost; lower the connection count or lengthen the pause)",
                self.ready_to_send
            )?;
        }
        if self.unread_before_next > 0 {
            write!(
                f,
                " (unread_before_next={}: chunks sent before the server had read the previous one; boundaries may be merged)",
                self.unread_before_next
            )?;
        }
        if self.unconfirmed > 0 {
            write!(
                f,
                " (unconfirmed={}: answers that failed once but not every time alone, so no finding: {}{})",
                self.unconfirmed,
                self.unconfirmed_cases.join(" "),
                if self.unconfirmed > self.unconfirmed_cases.len() as u64 {
                    " ..."
                } else {
                    ""
                }
            )?;
        }
        if self.varied > 0 {
            write!(
                f,
                " (varied={}: answers that differed only where the blob's own answer varies too)",
                self.varied
            )?;
        }
        if self.unsplit_fails > 0 {
            write!(
                f,
                " (warning: unsplit_fails={}: the blob sent whole, in one write, failed the same way, so no boundary is to blame)",
                self.unsplit_fails
            )?;
        }
        if self.port_waits > 0 {
            write!(
                f,
                " (local ports ran out {} times: the run slowed down to let connections in TIME_WAIT expire)",
                self.port_waits
            )?;
        }
        Ok(())
    }
}

/// Below this `ready_to_send`, the stats line warns that boundaries are at risk.
const SLOW_READY: f64 = 0.95;

/// How many unconfirmed cases the stats list.
const LISTED_UNCONFIRMED: usize = 5;

/// Smoothing of the connect-cycles moving average, as in the original tool.
const SMOOTHING: f64 = 0.9999;

/// Accumulates [`Stats`] from finished deliveries. Owned by the run loop alone.
#[derive(Debug)]
pub(crate) struct StatsCollector {
    stats: Stats,
    coverage: Coverage,
    blobs: u64,
    cycle: Duration,
    ready_checks: u64,
    ready_first: u64,
}

/// What a delivery still in flight had sent when a finding stopped the run.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    pub(crate) blob: &'a str,
    pub(crate) splits: &'a Splits,
    pub(crate) chunks: u64,
    pub(crate) bytes: u64,
}

/// What one delivery adds to the stats.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DeliveryCounts {
    pub(crate) connect_time: Duration,
    pub(crate) chunks: u64,
    pub(crate) bytes: u64,
    pub(crate) received: u64,
    pub(crate) ready_checks: u64,
    pub(crate) ready_first: u64,
    pub(crate) closed_early: bool,
    pub(crate) closed_by_server: bool,
    pub(crate) port_waits: u64,
    pub(crate) read_checks: u64,
    pub(crate) unread_before_next: u64,
    pub(crate) slow_read: bool,
    pub(crate) backpressured: bool,
}

impl StatsCollector {
    /// Stats for a run over these blobs (name, length); `cycle` is what one "cycle" of
    /// `mean_cycles_to_connect` means in this run.
    pub(crate) fn new<'a>(
        blobs: impl IntoIterator<Item = (&'a str, usize)>,
        cycle: Duration,
    ) -> Self {
        let blobs: Vec<(&str, usize)> = blobs.into_iter().collect();
        StatsCollector {
            stats: Stats::default(),
            blobs: blobs.len().max(1) as u64,
            coverage: Coverage::new(blobs),
            cycle: cycle.max(Duration::from_micros(1)),
            ready_checks: 0,
            ready_first: 0,
        }
    }

    pub(crate) fn record(&mut self, d: &DeliveryCounts) {
        let s = &mut self.stats;
        s.deliveries += 1;
        s.rounds = s.deliveries / self.blobs;
        s.chunks += d.chunks;
        s.bytes += d.bytes;
        s.received += d.received;
        s.port_waits += d.port_waits;
        s.read_checks += d.read_checks;
        s.unread_before_next += d.unread_before_next;
        s.closed_early += u64::from(d.closed_early);
        s.closed_by_server += u64::from(d.closed_by_server);
        s.slow_reads += u64::from(d.slow_read);
        s.backpressured += u64::from(d.backpressured);
        let cycles = (d.connect_time.as_secs_f64() / self.cycle.as_secs_f64())
            .ceil()
            .max(1.0);
        s.mean_cycles_to_connect =
            SMOOTHING * s.mean_cycles_to_connect + (1.0 - SMOOTHING) * cycles;
        self.ready_checks += d.ready_checks;
        self.ready_first += d.ready_first;
        if self.ready_checks > 0 {
            s.ready_to_send = self.ready_first as f64 / self.ready_checks as f64;
        }
    }

    /// Counts the boundaries a few bytes into `blob`'s records too.
    pub(crate) fn watch_records(&mut self, blob: &str, bytes: &[u8]) {
        self.coverage.watch_records(blob, bytes);
    }

    /// Notes a finding about an answer that did not pass the verdict gate.
    pub(crate) fn unconfirmed(&mut self, case: &crate::case::Case) {
        self.stats.unconfirmed += 1;
        if self.stats.unconfirmed_cases.len() < LISTED_UNCONFIRMED {
            self.stats.unconfirmed_cases.push(case.to_string());
        }
    }

    /// Notes a finding about an answer whose blob sent whole failed the same way.
    pub(crate) fn unsplit_fails(&mut self) {
        self.stats.unsplit_fails += 1;
    }

    /// Notes a delivery that paused mid-message (and its probe was served).
    pub(crate) fn paused(&mut self) {
        self.stats.paused += 1;
    }

    /// Notes a difference that the blob's own answer showed too.
    pub(crate) fn varied(&mut self) {
        self.stats.varied += 1;
    }

    /// Notes the boundaries a delivery of `blob` put on the wire.
    pub(crate) fn cover(&mut self, blob: &str, splits: &Splits, chunks_sent: u64) {
        self.coverage.record(blob, splits, chunks_sent as usize);
    }

    pub(crate) fn snapshot(&self, elapsed: Duration) -> Stats {
        Stats {
            elapsed,
            boundary_coverage: self.coverage.share(),
            record_coverage: self.coverage.records_share().0,
            ..self.stats.clone()
        }
    }

    /// The stats a finding shows: these, and every delivery still in flight counted for
    /// what it had sent (`InFlight`), so the deliveries and the boundaries covered agree.
    pub(crate) fn snapshot_with<'b>(
        &self,
        elapsed: Duration,
        in_flight: impl IntoIterator<Item = InFlight<'b>>,
    ) -> Stats {
        let mut coverage = self.coverage.clone();
        let mut stats = self.stats.clone();
        for sent in in_flight.into_iter().filter(|sent| sent.chunks > 0) {
            stats.deliveries += 1;
            stats.chunks += sent.chunks;
            stats.bytes += sent.bytes;
            coverage.record(sent.blob, sent.splits, sent.chunks as usize);
        }
        Stats {
            elapsed,
            boundary_coverage: coverage.share(),
            record_coverage: coverage.records_share().0,
            ..stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_counts_what_deliveries_in_flight_sent() {
        let c = StatsCollector::new([("a", 4)], Duration::from_millis(1));
        let (sent, unsent) = ("1,3".parse().unwrap(), "2,2".parse().unwrap());
        let in_flight = [
            InFlight {
                blob: "a",
                splits: &sent,
                chunks: 2,
                bytes: 4,
            },
            InFlight {
                blob: "a",
                splits: &unsent,
                chunks: 0,
                bytes: 0,
            },
        ];
        let s = c.snapshot_with(Duration::from_secs(1), in_flight);
        assert_eq!((s.deliveries, s.chunks, s.bytes), (1, 2, 4));
        assert_eq!(
            s.boundary_coverage,
            1.0 / 3.0,
            "the boundary it sent is covered"
        );
        let before = c.snapshot(Duration::from_secs(1));
        assert_eq!((before.deliveries, before.boundary_coverage), (0, 0.0));
    }

    #[test]
    fn counts_rounds_and_ratios() {
        let mut c = StatsCollector::new([("a", 4), ("b", 4)], Duration::from_millis(1));
        let d = DeliveryCounts {
            connect_time: Duration::from_micros(100),
            chunks: 3,
            bytes: 30,
            ready_checks: 2,
            ready_first: 1,
            ..Default::default()
        };
        for _ in 0..5 {
            c.record(&d);
        }
        c.cover("a", &"1,3".parse().unwrap(), 2);
        let s = c.snapshot(Duration::from_secs(2));
        assert_eq!((s.rounds, s.deliveries, s.chunks, s.bytes), (2, 5, 15, 150));
        assert_eq!(s.ready_to_send, 0.5);
        assert_eq!(s.mean_cycles_to_connect, 1.0);
        assert_eq!(s.chunks_per_sec(), 7.5);
        assert_eq!(s.boundary_coverage, 1.0 / 6.0);
        let line = s.original().to_string();
        assert!(
            line.starts_with("Stats: rounds=2, mean_cycles_to_connect=1.00, ready_to_send=0.50"),
            "{line}"
        );
        assert_eq!(
            s.to_string(),
            "Stats: deliveries=5 (2/s), boundaries covered=16.7%, record starts=100.0%, unconfirmed=0, paused=0, slow reads=0, elapsed=2.0s (warning: ready_to_send=0.50, below 0.95: the server is slow to take its bytes, so the kernel may merge chunks and boundaries are lost; lower the connection count or lengthen the pause)"
        );
    }

    #[test]
    fn slow_connects_raise_the_average() {
        let mut c = StatsCollector::new([("a", 4)], Duration::from_millis(1));
        let slow = DeliveryCounts {
            connect_time: Duration::from_millis(50),
            ..Default::default()
        };
        c.record(&slow);
        let s = c.snapshot(Duration::ZERO);
        assert!(s.mean_cycles_to_connect > 1.0);
        assert_eq!(
            s.ready_to_send, 1.0,
            "no check yet means nothing was found unready"
        );
    }
}

//! Counting as deliveries finish: the run loop's [`StatsCollector`], and what one delivery
//! (or one still in flight at a finding) adds.

use std::time::Duration;

use super::{LISTED_UNCONFIRMED, Stats};
use crate::split::{Coverage, Splits};

/// After this many unconfirmed cases of one blob, its copies are taken to change each
/// other's answers, and it is delivered one at a time.
pub(crate) const ISOLATE_AFTER: u64 = 3;

/// Smoothing of the connect-cycles moving average, as in the original tool.
const SMOOTHING: f64 = 0.9999;

/// Accumulates [`Stats`] from finished deliveries. Owned by the run loop alone.
#[derive(Debug)]
pub(crate) struct StatsCollector {
    stats: Stats,
    /// Unconfirmed cases per blob.
    unconfirmed_of: std::collections::HashMap<String, u64>,
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
    pub(crate) waits_timed_out: u64,
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
            unconfirmed_of: std::collections::HashMap::new(),
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
        s.waits_timed_out += d.waits_timed_out;
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
    pub(crate) fn watch_records(&mut self, blob: &str, shape: crate::split::Shape<'_>) {
        self.coverage.watch_records(blob, shape);
    }

    /// Notes a finding about an answer that did not pass the verdict gate: `case` failed
    /// as `why` says, then `failed` of `tried` times when delivered again alone.
    pub(crate) fn unconfirmed(
        &mut self,
        case: &crate::case::Case,
        why: &str,
        (failed, tried): (u32, u32),
    ) {
        self.stats.unconfirmed += 1;
        if self.stats.unconfirmed_cases.len() < LISTED_UNCONFIRMED {
            self.stats
                .unconfirmed_cases
                .push(format!("{case} ({why}; failed {failed} of {tried} alone)"));
        }
        let of_blob = self
            .unconfirmed_of
            .entry(case.blob().to_owned())
            .or_default();
        *of_blob += 1;
        if *of_blob == ISOLATE_AFTER {
            self.stats.isolated.push(case.blob().to_owned());
        }
    }

    /// The blobs to deliver one at a time, since their copies changed each other's answers.
    pub(crate) fn isolated(&self) -> &[String] {
        &self.stats.isolated
    }

    /// Notes a finding about an answer whose blob sent whole failed the same way.
    pub(crate) fn unsplit_fails(&mut self) {
        self.stats.unsplit_fails += 1;
    }

    /// Notes a delivery that stalled mid-message (and its probe was served).
    pub(crate) fn stalled(&mut self) {
        self.stats.stalled += 1;
        #[allow(deprecated)]
        {
            self.stats.paused = self.stats.stalled;
        }
    }

    /// Notes connects that timed out with `in_flight` deliveries in flight, `waited` each,
    /// from a server that then accepted alone in `alone`: the run goes on with at most
    /// `connections` in flight.
    pub(crate) fn slow_accepts(
        &mut self,
        timeouts: u64,
        waited: Duration,
        in_flight: usize,
        alone: Duration,
        connections: usize,
    ) {
        let slow = self.stats.slow_accepts.get_or_insert(super::SlowAccepts {
            timeouts: 0,
            waited,
            in_flight: 0,
            alone: Duration::ZERO,
            connections,
        });
        slow.timeouts += timeouts;
        slow.in_flight = slow.in_flight.max(in_flight);
        slow.alone = slow.alone.max(alone);
        slow.connections = connections;
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
            "Stats: deliveries=5 (2/s), boundaries covered=16.7%, record starts=100.0%, unconfirmed=0, stalled=0, slow reads=0, elapsed=2.0s (warning: ready_to_send=0.50, below 0.95: the server is slow to take its bytes, so the kernel may merge chunks and boundaries are lost; lower the connection count or lengthen the gap between chunks)"
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

    #[test]
    fn waits_that_timed_out_are_counted_and_said() {
        let mut c = StatsCollector::new([("a", 4)], Duration::from_millis(1));
        let d = DeliveryCounts {
            waits_timed_out: 2,
            ..Default::default()
        };
        c.record(&d);
        c.record(&DeliveryCounts::default());
        let s = c.snapshot(Duration::from_secs(1));
        assert_eq!(s.waits_timed_out, 2);
        let line = s.to_string();
        assert!(
            line.ends_with(" (warning: waits_timed_out=2: a conversation's wait did not end within the connect timeout, holding its delivery that long; check that the server sends what the `#~ wait` line waits for)"),
            "{line}"
        );
    }
}

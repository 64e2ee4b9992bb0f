//! Run counters and their one-line form, which reads like the original tool's stats line.

use std::fmt;
use std::time::Duration;

/// How many unconfirmed cases the stats (a server run's, a client run's) list.
pub(crate) const LISTED_UNCONFIRMED: usize = 5;

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
    /// Waits of conversations (`#~ wait`) that did not end within the connect timeout: the
    /// server never sent what they wait for, and each held its delivery that long.
    pub waits_timed_out: u64,
    /// Times a connect found no free local port (ephemeral ports in TIME_WAIT) and the run
    /// slowed down to let them free up.
    pub port_waits: u64,
    /// Share of the blobs' inner offsets that have been a chunk boundary on the wire.
    pub boundary_coverage: f64,
    /// Share of the positions 1 to 8 bytes into each record of each blob (records are the
    /// frames of HTTP/2, WebSocket and TLS, or length-prefixed records, else they begin after
    /// line ends and NUL bytes) that have been a boundary.
    pub record_coverage: f64,
    /// Findings about an answer that did not pass the verdict gate: delivered again alone,
    /// beside fresh whole answers, the case did not fail every time. Other deliveries
    /// disturbed it (shared state in the server), or the server was not ready: no bug.
    pub unconfirmed: u64,
    /// The first few unconfirmed cases, as case strings, to replay by hand.
    pub unconfirmed_cases: Vec<String>,
    /// Blobs delivered one at a time since their copies in flight changed each other's
    /// answers (each had 3 unconfirmed cases), as `.isolate_blobs(true)` does for every
    /// blob.
    pub isolated: Vec<String>,
    /// Findings about an answer that passed the gate only once what varies in the blob's own
    /// whole answer (a date, an id, a random token, the order of records) was learnt.
    pub varied: u64,
    /// Findings about an answer whose blob, sent whole in one write, failed the same way:
    /// no boundary is to blame, so no finding (a warning in the stats line).
    pub unsplit_fails: u64,
    /// Deliveries that stalled mid-message while a probe checked that the server still
    /// served other clients.
    pub stalled: u64,
    /// The old name of [`stalled`](Self::stalled), always equal to it.
    #[doc(hidden)]
    #[deprecated(
        since = "0.2.0",
        note = "renamed `stalled`: a pause mid-message is a stall"
    )]
    pub paused: u64,
    /// Deliveries that read their response slowly (a small receive buffer and segment size,
    /// small reads with pauses).
    pub slow_reads: u64,
    /// Slow-reading deliveries during which the server's send buffer was seen full at least
    /// once: its `write()` came up short or failed with `EAGAIN` (where its socket can be seen).
    pub backpressured: u64,
    /// Connects the server was slow to accept under the run's load, though it accepted at
    /// once alone: the run went on with fewer connections.
    pub slow_accepts: Option<SlowAccepts>,
    /// In a run that keeps going after findings ([`Stutter::keep_going`](crate::Stutter::keep_going)):
    /// how many times the run began again, on a fresh server, after a finding.
    pub restarts: u64,
    /// In a run that keeps going: the distinct findings made so far.
    pub findings_distinct: u64,
    /// In a run that keeps going: every finding met so far, those met again included.
    pub findings_met: u64,
    /// Time spent fuzzing.
    pub elapsed: Duration,
}

/// Connects that timed out while many deliveries were in flight, from a server that then,
/// with nothing else in flight, accepted a fresh connection: it was slow under the run's
/// load (a small listen queue, a busy accept loop), not stopped. Not a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlowAccepts {
    /// Connects not accepted within the connect timeout.
    pub timeouts: u64,
    /// The connect timeout they ran out.
    pub waited: Duration,
    /// The most deliveries in flight when one ran out.
    pub in_flight: usize,
    /// The longest the server then took to accept a connection alone.
    pub alone: Duration,
    /// The most deliveries in flight the run went on with.
    pub connections: usize,
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
            waits_timed_out: 0,
            boundary_coverage: 0.0,
            record_coverage: 0.0,
            unconfirmed: 0,
            unconfirmed_cases: Vec::new(),
            isolated: Vec::new(),
            varied: 0,
            unsplit_fails: 0,
            stalled: 0,
            #[allow(deprecated)]
            paused: 0,
            slow_reads: 0,
            backpressured: 0,
            slow_accepts: None,
            restarts: 0,
            findings_distinct: 0,
            findings_met: 0,
            elapsed: Duration::ZERO,
        }
    }
}

impl Stats {
    /// These stats and a later part's of the same run (`later`), as one: counts add up,
    /// shares and averages are the later part's, the larger coverage stays.
    pub(crate) fn absorb(&mut self, later: &Stats) {
        let counts = [
            (&mut self.rounds, later.rounds),
            (&mut self.deliveries, later.deliveries),
            (&mut self.closed_early, later.closed_early),
            (&mut self.closed_by_server, later.closed_by_server),
            (&mut self.chunks, later.chunks),
            (&mut self.bytes, later.bytes),
            (&mut self.received, later.received),
            (&mut self.unread_before_next, later.unread_before_next),
            (&mut self.read_checks, later.read_checks),
            (&mut self.waits_timed_out, later.waits_timed_out),
            (&mut self.port_waits, later.port_waits),
            (&mut self.unconfirmed, later.unconfirmed),
            (&mut self.varied, later.varied),
            (&mut self.unsplit_fails, later.unsplit_fails),
            (&mut self.stalled, later.stalled),
            (&mut self.slow_reads, later.slow_reads),
            (&mut self.backpressured, later.backpressured),
            (&mut self.restarts, later.restarts),
            (&mut self.findings_distinct, later.findings_distinct),
            (&mut self.findings_met, later.findings_met),
        ];
        for (mine, theirs) in counts {
            *mine += theirs;
        }
        #[allow(deprecated)]
        {
            self.paused = self.stalled;
        }
        self.mean_cycles_to_connect = later.mean_cycles_to_connect;
        self.ready_to_send = later.ready_to_send;
        self.boundary_coverage = self.boundary_coverage.max(later.boundary_coverage);
        self.record_coverage = self.record_coverage.max(later.record_coverage);
        for case in &later.unconfirmed_cases {
            if self.unconfirmed_cases.len() < LISTED_UNCONFIRMED
                && !self.unconfirmed_cases.contains(case)
            {
                self.unconfirmed_cases.push(case.clone());
            }
        }
        for blob in &later.isolated {
            if !self.isolated.contains(blob) {
                self.isolated.push(blob.clone());
            }
        }
        if later.slow_accepts.is_some() {
            self.slow_accepts = later.slow_accepts.clone();
        }
        self.elapsed += later.elapsed;
    }

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
            "Stats: deliveries={} ({:.0}/s), boundaries covered={:.1}%, record starts={:.1}%, unconfirmed={}, {}stalled={}, slow reads={}, elapsed={:.1}s",
            self.deliveries,
            self.deliveries_per_sec(),
            self.boundary_coverage * 100.0,
            self.record_coverage * 100.0,
            self.unconfirmed,
            if self.findings_met > 0 {
                format!(
                    "findings={} distinct of {}, ",
                    self.findings_distinct, self.findings_met
                )
            } else {
                String::new()
            },
            self.stalled,
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
            "Stats: rounds={}, mean_cycles_to_connect={:.2}, ready_to_send={:.2}, deliveries={}, chunks={}, bytes={}, received={}, boundaries={:.1}%, records={:.1}%, stalled={}, slow={}, backpressured={}, elapsed={:.1}s, chunks/s={:.0}",
            s.rounds,
            s.mean_cycles_to_connect,
            s.ready_to_send,
            s.deliveries,
            s.chunks,
            s.bytes,
            s.received,
            s.boundary_coverage * 100.0,
            s.record_coverage * 100.0,
            s.stalled,
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
        self.boundary_notes(f)?;
        self.answer_notes(f)?;
        self.capacity_notes(f)
    }

    /// Boundaries at risk: a server slow to take its bytes, or chunks sent before it had
    /// read the previous one, so the kernel may have merged them.
    fn boundary_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Where the server's reads are watched, `unread_before_next` says directly whether
        // chunks may have merged; elsewhere a low ready_to_send is the only sign.
        if self.deliveries > 0 && self.read_checks == 0 && self.ready_to_send < SLOW_READY {
            write!(
                f,
                " (warning: ready_to_send={:.2}, below {SLOW_READY:.2}: the server is slow to take its bytes, so the kernel may merge chunks and boundaries are lost; lower the connection count or lengthen the gap between chunks)",
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
        Ok(())
    }

    /// Answers that failed without a finding: unconfirmed, isolated, varied, or failing the
    /// same way sent whole.
    fn answer_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        if !self.isolated.is_empty() {
            write!(
                f,
                " (delivered one at a time since their copies changed each other's answers: {}; make them use keys of their own, or isolate them: AnswerOracle::isolate_blobs(true) / --isolate-blobs)",
                self.isolated.join(" ")
            )?;
        }
        if self.varied > 0 {
            write!(
                f,
                " (varied={}: answers that differed only where the blob's own answer varies too)",
                self.varied
            )?;
        }
        if self.waits_timed_out > 0 {
            write!(
                f,
                " (warning: waits_timed_out={}: a conversation's wait did not end within the connect timeout, holding its delivery that long; check that the server sends what the `#~ wait` line waits for)",
                self.waits_timed_out
            )?;
        }
        if self.unsplit_fails > 0 {
            write!(
                f,
                " (warning: unsplit_fails={}: the blob sent whole, in one write, failed the same way, so no boundary is to blame)",
                self.unsplit_fails
            )?;
        }
        Ok(())
    }

    /// What slowed the run or began it again: slow accepts, restarts after findings, local
    /// ports that ran out.
    fn capacity_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(slow) = &self.slow_accepts {
            write!(
                f,
                " (warning: slow accepts: {} connects were not accepted within {} with up to {} \
                 connections in flight, yet alone the server accepted in {} ms: its listen queue \
                 (backlog) may be small or its accept loop busy; the run went on with at most {} \
                 connections in flight (to start with fewer: --num-conns N, or .connections(n) in a test))",
                slow.timeouts,
                humantime::format_duration(slow.waited),
                slow.in_flight,
                slow.alone.as_millis(),
                slow.connections
            )?;
        }
        if self.restarts > 0 {
            write!(
                f,
                " (restarts={}: the run began again on a fresh server after each finding)",
                self.restarts
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

mod collector;

pub(crate) use collector::{DeliveryCounts, InFlight, StatsCollector};

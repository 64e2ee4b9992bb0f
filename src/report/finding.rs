//! A found bug and its report.

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

use super::format::escape_bytes;
use super::narrowed::Narrowed;
use super::rerun::Rerun;
use super::suspect::{Suspect, SuspectState};
use crate::case::Case;
use crate::rng::Seed;
use crate::server::{AlarmSource, ServerSummary, describe_exit};
use crate::stats::Stats;

/// What the server did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// The server process exited, or died by a signal, while being fuzzed.
    ServerDied {
        /// How it ended.
        status: ExitStatus,
    },
    /// The in-process server's future ended (returned, or panicked) while being fuzzed.
    ServerTaskEnded {
        /// The panic message, if it panicked.
        panic: Option<String>,
    },
    /// A connection was refused or reset during the handshake after the server was ready.
    ConnectRefused {
        /// The error the connect got.
        error: String,
    },
    /// A connect did not complete in time: the server stopped accepting connections.
    ConnectTimeout {
        /// How long the connect waited.
        after: Duration,
    },
    /// No connection's bytes were read for a while although bytes waited: the server, still
    /// alive, stopped reading altogether (frozen, or deadlocked). Seen where the server's
    /// receive queues can be watched (a server on this machine, on Linux).
    ServerStoppedReading {
        /// How long bytes waited with nothing read.
        unread_for: Duration,
    },
    /// A split delivery got another response than the blob delivered whole
    /// (`Responses::same`), after normalization.
    ResponseDiffers {
        /// The whole-blob delivery's response.
        expected: Vec<u8>,
        /// This delivery's response.
        actual: Vec<u8>,
        /// Offset of the first differing byte that counted (not in a part masked or learnt
        /// to vary); `None` when the bytes agree but the connection ended otherwise.
        first_difference: Option<usize>,
        /// Whether the server closed the whole-blob delivery's connection.
        expected_closed: bool,
        /// Whether it closed this one.
        actual_closed: bool,
    },
    /// The server did not complete its response within the response timeout after the last
    /// chunk.
    NoResponse {
        /// How long the harness waited after the last chunk.
        waited: Duration,
        /// Bytes that did arrive.
        received: u64,
        /// The length of the blob's whole answer (the shortest seen), when it is known.
        expected: Option<u64>,
        /// Offset in the blob of the last boundary (where the last chunk began).
        last_boundary: usize,
    },
    /// The user's `Responses::check` rejected a delivery.
    CheckFailed {
        /// The check's message.
        message: String,
    },
    /// The server printed a line that marks a bug (a sanitizer report, a panic, a valgrind
    /// error) while it went on running.
    OutputMatched {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The line.
        line: String,
        /// The pattern it matched.
        pattern: String,
    },
    /// While one connection paused mid-message, a probe connection sending the same blob
    /// whole was not accepted, read or answered: the server serves one client at a time
    /// while a message is incomplete (a blocking read, a lock held across reads).
    StoppedServingOthers {
        /// How long the connection paused.
        pause: Duration,
        /// How long the probe waited.
        waited: Duration,
        /// What the probe did not get: "not accepted", "not read" or "not answered".
        probe: &'static str,
    },
}

impl FindingKind {
    /// One line saying what happened.
    pub fn headline(&self) -> String {
        match self {
            FindingKind::ServerDied { status } => {
                format!("the server {} while being fuzzed", describe_exit(*status))
            }
            FindingKind::ServerTaskEnded {
                panic: Some(message),
            } => {
                format!("the in-process server panicked while being fuzzed: {message}")
            }
            FindingKind::ServerTaskEnded { panic: None } => {
                "the in-process server's future returned while being fuzzed".to_owned()
            }
            FindingKind::ConnectRefused { error } => {
                format!("a connection was refused after the server was ready ({error})")
            }
            FindingKind::ConnectTimeout { after } => format!(
                "the server stopped accepting connections: a connect did not complete within {}",
                humantime::format_duration(*after)
            ),
            FindingKind::ServerStoppedReading { unread_for } => format!(
                "the server stopped reading (frozen or deadlocked): no connection's bytes were read for {} while it lived",
                humantime::format_duration(Duration::from_millis(unread_for.as_millis() as u64))
            ),
            FindingKind::ResponseDiffers {
                expected_closed,
                actual_closed,
                expected,
                actual,
                first_difference,
            } => {
                let Some(first_difference) = first_difference else {
                    let how = |closed: &bool| {
                        if *closed {
                            "closed the connection"
                        } else {
                            "kept the connection open"
                        }
                    };
                    let same = if expected == actual {
                        "the same answer"
                    } else {
                        "the same answer but for the parts that vary"
                    };
                    return format!(
                        "the response to a split delivery ended differently: {same}, but the server {} where, for the blob sent whole, it {}",
                        how(actual_closed),
                        how(expected_closed)
                    );
                };
                format!(
                    "the response to a split delivery differs from the response to the blob sent whole, from byte {first_difference}"
                )
            }
            FindingKind::NoResponse {
                waited,
                received: 0,
                last_boundary,
                ..
            } => format!(
                "no response {} ms after the last chunk (nothing received; the last chunk began at byte {last_boundary})",
                waited.as_millis()
            ),
            FindingKind::NoResponse {
                waited,
                received,
                expected: Some(expected),
                last_boundary,
            } => format!(
                "the answer stopped short of the whole blob's: {received} of {expected} bytes {} ms after the last chunk, the connection still open (the last chunk began at byte {last_boundary})",
                waited.as_millis()
            ),
            FindingKind::NoResponse {
                waited,
                received,
                expected: None,
                last_boundary,
            } => format!(
                "the answer did not complete: {received} bytes {} ms after the last chunk, the connection still open (the last chunk began at byte {last_boundary})",
                waited.as_millis()
            ),
            FindingKind::CheckFailed { message } => format!("the check failed: {message}"),
            FindingKind::OutputMatched { stream, line, .. }
                if *stream == AlarmSource::TaskPanic.name() =>
            {
                format!("a task of the in-process server panicked: {line}")
            }
            FindingKind::OutputMatched {
                stream,
                line,
                pattern,
            } => format!("the server printed {pattern:?} on {stream}: {line}"),
            FindingKind::StoppedServingOthers {
                pause,
                waited,
                probe,
            } => format!(
                "the server stopped serving other connections while one connection paused mid-message: during a {} ms pause, a probe connection sending the same blob whole was {probe} within {} ms",
                pause.as_millis(),
                waited.as_millis()
            ),
        }
    }
}

/// What became of the finding's regression line.
#[derive(Clone, Debug)]
pub(crate) enum RegressionNote {
    /// Appended to this file.
    Written(std::path::PathBuf),
    /// Not written (CI); shown so it can be pasted.
    Printed(Vec<String>),
    /// Writing failed.
    Failed(std::path::PathBuf, String),
    /// The finding came from a recorded regression line, which fails again.
    Regressed(std::path::PathBuf),
}

/// How many suspects a report lists, when there are several.
const LISTED: usize = 10;

/// A bug found: what happened, the cases that may have caused it, how to replay each.
#[derive(Clone, Debug)]
pub struct Finding {
    pub(crate) kind: FindingKind,
    pub(crate) suspects: Vec<Suspect>,
    pub(crate) seed: Seed,
    pub(crate) addr: String,
    pub(crate) stats: Stats,
    pub(crate) server: Option<ServerSummary>,
    pub(crate) rerun: Rerun,
    /// `(attempt, attempts)` when found by replaying one case.
    pub(crate) replay: Option<(u32, u32)>,
    pub(crate) narrowed: Option<Narrowed>,
    pub(crate) regression: Option<RegressionNote>,
    pub(crate) notes: Vec<String>,
    /// How long narrowing took, and its budget.
    pub(crate) narrowing: Option<(Duration, Duration)>,
}

impl Finding {
    /// A finding of `kind` with these suspects, in a run with this seed against `addr`;
    /// what the run learnt later (the server's output, narrowing, the regression file) is
    /// added to it by the run layer.
    pub(crate) fn new(
        kind: FindingKind,
        suspects: Vec<Suspect>,
        stats: Stats,
        seed: Seed,
        addr: String,
        rerun: Rerun,
    ) -> Self {
        Finding {
            kind,
            suspects,
            seed,
            addr,
            stats,
            server: None,
            rerun,
            replay: None,
            narrowed: None,
            regression: None,
            notes: Vec::new(),
            narrowing: None,
        }
    }

    /// What the server did wrong.
    pub fn kind(&self) -> &FindingKind {
        &self.kind
    }

    /// The cases that may have caused it, most recently started first. Only a case that was
    /// the only one in flight, or that failed alone on replay, is known to be the cause.
    pub fn suspects(&self) -> &[Suspect] {
        &self.suspects
    }

    /// The seed of the run.
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// The run's counters when the bug showed.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The spawned server's process id, if the harness spawned it.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(|s| s.pid)
    }

    /// The line that replays `case`.
    pub fn replay_line(&self, case: &Case) -> String {
        self.rerun.line(case)
    }

    /// The case that fails alone, when narrowing found one (its original pattern).
    pub fn culprit(&self) -> Option<&Case> {
        match &self.narrowed {
            Some(Narrowed::Culprit { original, .. } | Narrowed::Unsplit { original }) => {
                Some(original)
            }
            _ => None,
        }
    }

    /// The culprit's pattern shrunk to a locally minimal one that still fails.
    pub fn minimal(&self) -> Option<&Case> {
        match &self.narrowed {
            Some(Narrowed::Culprit { minimal, .. }) => Some(minimal),
            _ => None,
        }
    }

    /// How often the minimal case failed when delivered again: (failures, deliveries).
    pub fn reproduced(&self) -> Option<(u32, u32)> {
        match &self.narrowed {
            Some(Narrowed::Culprit { reproduced, .. }) => Some(*reproduced),
            _ => None,
        }
    }

    /// The smallest set of cases that fail only together (a bug that needs several
    /// connections at once), when narrowing found one.
    pub fn together(&self) -> Option<&[Case]> {
        match &self.narrowed {
            Some(Narrowed::Together { cases }) => Some(cases),
            _ => None,
        }
    }

    /// How long narrowing took, if it ran.
    pub fn narrowing_time(&self) -> Option<Duration> {
        self.narrowing.map(|(took, _)| took)
    }

    /// The case to replay first: the minimal culprit, or else the first suspect.
    pub fn best_case(&self) -> Option<&Case> {
        self.minimal()
            .or_else(|| self.suspects.first().map(|s| &s.case))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stutterfuzz found a bug: {}", self.kind.headline())?;
        writeln!(f, "  seed      = {}", self.seed)?;
        writeln!(f, "  address   = {}", self.addr)?;
        if let Some(server) = &self.server {
            match server.pid {
                Some(pid) => writeln!(f, "  server    = {} (pid {pid})", server.command)?,
                None => writeln!(f, "  server    = {}", server.command)?,
            }
        }
        match (self.replay, self.suspects.len()) {
            (Some((attempt, of)), _) => writeln!(
                f,
                "  replay    = failed on attempt {attempt} of up to {of}: this case alone reproduces it"
            )?,
            (None, 0) => writeln!(f, "  suspects  = none: no case was in flight")?,
            (None, n) if self.suspects[0].paused_culprit() => writeln!(
                f,
                "  suspects  = 1 case, certain: it paused mid-message; the {} others in flight then are its victims",
                n - 1
            )?,
            (None, 1) if self.suspects[0].state == SuspectState::Culprit => writeln!(
                f,
                "  suspects  = 1 case, certain: the bug shows in its own response"
            )?,
            (None, 1) => writeln!(f, "  suspects  = 1 case, the only one in flight")?,
            (None, n) => writeln!(
                f,
                "  suspects  = {n} cases in flight or just finished; any of them may be the cause \
                 (replay each to see which fails alone)"
            )?,
        }
        if let Some(narrowed) = &self.narrowed {
            narrowed.write(f, &self.rerun)?;
        }
        if let Some((took, budget)) = self.narrowing {
            writeln!(
                f,
                "  time      = fuzzing {:.1} s, narrowing {:.1} s (budget {})",
                self.stats.elapsed.as_secs_f64(),
                took.as_secs_f64(),
                humantime::format_duration(budget)
            )?;
        }
        match &self.regression {
            Some(RegressionNote::Written(path)) => writeln!(
                f,
                "  recorded  = {} (commit it: it is replayed first on every run)",
                path.display()
            )?,
            Some(RegressionNote::Printed(lines)) => {
                writeln!(
                    f,
                    "  regression line (not written under CI; set STUTTERFUZZ_SAVE_REGRESSIONS=1 to write it):"
                )?;
                for line in lines {
                    writeln!(f, "    {line}")?;
                }
            }
            Some(RegressionNote::Failed(path, error)) => writeln!(
                f,
                "  recorded  = could not write {}: {error}",
                path.display()
            )?,
            Some(RegressionNote::Regressed(path)) => writeln!(
                f,
                "  regressed = a case recorded in {} fails again",
                path.display()
            )?,
            None => {}
        }
        if let [only] = self.suspects.as_slice() {
            writeln!(f)?;
            writeln!(f, "the case ({})", only.progress())?;
            writeln!(
                f,
                "  blob      = {} ({} bytes)",
                only.blob_origin, only.blob_len
            )?;
            let pause = only.case.pause_note();
            writeln!(f, "  splits    = {}{pause}", only.case.splits())?;
            if let Some(it) = only.iteration {
                writeln!(f, "  delivery  = #{it} of this blob")?;
            }
            writeln!(f, "  case      = {}", only.case)?;
            writeln!(f, "  replay    = {}", self.rerun.line(&only.case))?;
        } else if let [first, ..] = self.suspects.as_slice() {
            // At a glance: the first few suspects, one short line each; all of them are in
            // `Finding::suspects` and in the command line's failure file.
            writeln!(f)?;
            for (i, s) in self.suspects.iter().take(LISTED).enumerate() {
                writeln!(f, "{:>3}. {}", i + 1, s.short_line())?;
            }
            if let Some(more) = self.suspects.len().checked_sub(LISTED).filter(|n| *n > 0) {
                writeln!(
                    f,
                    "     and {more} more suspects (all of them: Finding::suspects(), or the failure file of the command line)"
                )?;
            }
            // No replay line where narrowing showed no case is to blame.
            let blameless = matches!(
                self.narrowed,
                Some(Narrowed::DiesAfter { .. } | Narrowed::Together { .. })
            );
            if self.culprit().is_none() && !blameless {
                writeln!(f, "  replay    = {}", self.rerun.line(&first.case))?;
            }
        }
        if let FindingKind::ResponseDiffers {
            expected, actual, ..
        } = &self.kind
        {
            writeln!(f)?;
            writeln!(
                f,
                "response to the blob sent whole ({} bytes):",
                expected.len()
            )?;
            writeln!(f, "  {}", escape_bytes(expected))?;
            writeln!(f, "response to this split ({} bytes):", actual.len())?;
            writeln!(f, "  {}", escape_bytes(actual))?;
        }
        if let Some(server) = &self.server {
            for (name, output) in [("stderr", &server.stderr), ("stdout", &server.stdout)] {
                if !output.is_empty() {
                    writeln!(f)?;
                    writeln!(f, "server {name}:")?;
                    f.write_str(&output.indented())?;
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        writeln!(f)?;
        write!(f, "{}", self.stats)
    }
}

#[cfg(test)]
mod tests;

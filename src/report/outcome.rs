//! The report of a run that found nothing.

use std::fmt;

use crate::case::Case;
use crate::control::RunEnd;
use crate::rng::Seed;
use crate::stats::Stats;

/// The outcome of a run that found no bug, or the whole run of one that kept going past its
/// findings ([`Findings::report`](crate::Findings::report)).
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) stats: Stats,
    pub(crate) seed: Seed,
    pub(crate) end: RunEnd,
    pub(crate) replayed: Option<(Case, u32)>,
    pub(crate) server_pid: Option<u32>,
    /// What the run counted as a bug, in words (`Stutter::checks`).
    pub(crate) checks: String,
    /// Things the user should know about how the run went (a capped connection count).
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// The run's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The seed of the run.
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// Why the run ended.
    pub fn end(&self) -> RunEnd {
        self.end
    }

    /// Things the run had to adjust, such as a connection count capped by the open-file
    /// limit.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The spawned server's process id, if the harness spawned one (it is stopped by now).
    pub fn server_pid(&self) -> Option<u32> {
        self.server_pid
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match (&self.replayed, self.end) {
            (Some((case, attempts)), _) => {
                format!("case {case} did not fail in {attempts} attempts")
            }
            (None, RunEnd::CyclesDone) => "every blob had all its cycles".to_owned(),
            (None, RunEnd::TimeUp) => "the time budget ran out".to_owned(),
            (None, RunEnd::Stopped) => "stopped on request".to_owned(),
            (None, RunEnd::ReplayPassed) => "the replay passed".to_owned(),
            (None, RunEnd::Unconfirmed) => {
                "the run stopped at a finding that did not hold up when narrowed".to_owned()
            }
        };
        match self.stats.findings_distinct {
            // The whole run of a run that kept going: its findings are listed apart.
            0 => writeln!(f, "stutterfuzz: no finding; {why} (seed {})", self.seed)?,
            n => writeln!(
                f,
                "stutterfuzz: {n} distinct finding(s), each listed apart; {why} (seed {})",
                self.seed
            )?,
        }
        writeln!(f, "checked: {}", self.checks)?;
        if self.replayed.is_none() && self.end == RunEnd::CyclesDone {
            writeln!(
                f,
                "note: the cycle count ended the run; STUTTERFUZZ_DURATION=10m lifts it and runs that long"
            )?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        write!(f, "{}", self.stats)
    }
}

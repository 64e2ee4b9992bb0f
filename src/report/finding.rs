//! A found bug and its report.

use std::fmt;
use std::time::Duration;

use super::narrowed::Narrowed;
use super::rerun::Rerun;
use super::suspect::Suspect;
use crate::case::Case;
use crate::engine::Seen;
use crate::oracle::FindingKind;
use crate::rng::Seed;
use crate::server::ServerSummary;
use crate::stats::Stats;

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
    /// How the case first seen failed, when its minimal case, whose failure is `kind`,
    /// failed otherwise (its answer differed at another byte).
    pub(crate) first_seen: Option<FindingKind>,
    pub(crate) regression: Option<RegressionNote>,
    pub(crate) notes: Vec<String>,
    /// How long narrowing took, and its budget.
    pub(crate) narrowing: Option<(Duration, Duration)>,
    /// What tells it from other findings of a run that keeps going.
    pub(crate) signature: String,
}

impl Finding {
    /// A finding of `kind` whose suspects are these deliveries, in a run with this seed
    /// against `addr`;
    /// what the run learnt later (the server's output, narrowing, the regression file) is
    /// added to it by the run layer.
    pub(crate) fn new(
        kind: FindingKind,
        suspects: Vec<Seen>,
        stats: Stats,
        seed: Seed,
        addr: String,
        rerun: Rerun,
    ) -> Self {
        Finding {
            kind,
            suspects: suspects.into_iter().map(Suspect::from).collect(),
            seed,
            addr,
            stats,
            server: None,
            rerun,
            replay: None,
            narrowed: None,
            first_seen: None,
            regression: None,
            notes: Vec::new(),
            narrowing: None,
            signature: String::new(),
        }
    }

    /// The minimal case shown on its blob's bytes (each `|` a cut), when narrowing found one.
    pub(crate) fn minimal_view(&self) -> Option<&str> {
        match &self.narrowed {
            Some(Narrowed::Culprit { views, .. }) => Some(&views.1),
            _ => None,
        }
    }

    /// Sets what tells this finding from others: its kind, located by what the server
    /// printed, or by the request record its best case cuts in `blob`.
    /// Shows each suspect on its blob's bytes, as `blob` (by name) gives them.
    pub(crate) fn view_suspects<'b>(&mut self, blob: impl Fn(&str) -> Option<&'b [u8]>) {
        for suspect in &mut self.suspects {
            suspect.view = blob(suspect.seen.case.blob())
                .map(|bytes| crate::case::case_view(bytes, &suspect.seen.case));
        }
    }

    pub(crate) fn sign(&mut self, blob: Option<&[u8]>) {
        let output = self.output().map(|(summary, _)| summary);
        let case = self.best_case().zip(blob);
        self.signature = super::signature::of(&self.kind, output, case);
    }

    /// What tells this finding from another in a run that keeps going
    /// ([`Stutter::keep_going`](crate::Stutter::keep_going)): its kind, and what locates
    /// it (where the server says it crashed, or the shape of the request record the case
    /// cuts, such as `answer differs in SET ...`).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// What narrowing learnt. The minimal case's own failure, when it was seen, becomes
    /// the finding's kind: the report shows the evidence of the case it names.
    pub(crate) fn set_narrowed(&mut self, narrowed: Option<Narrowed>) {
        if let Some(Narrowed::Culprit {
            evidence: Some(evidence),
            ..
        }) = &narrowed
            && fails_otherwise(evidence, &self.kind)
        {
            let evidence = FindingKind::clone(evidence);
            self.first_seen = Some(std::mem::replace(&mut self.kind, evidence));
        }
        self.narrowed = narrowed;
    }

    /// What the server did wrong: the minimal case's own failure when narrowing found one.
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
            .or_else(|| self.suspects.first().map(|s| &s.seen.case))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stutterfuzz found a bug: {}", self.headline())?;
        writeln!(f, "  seed      = {}", self.seed)?;
        writeln!(f, "  address   = {}", self.addr)?;
        if let Some(server) = &self.server {
            match server.pid {
                Some(pid) => writeln!(f, "  server    = {} (pid {pid})", server.command)?,
                None => writeln!(f, "  server    = {}", server.command)?,
            }
        }
        self.write_suspects_line(f)?;
        if let Some(narrowed) = &self.narrowed {
            narrowed.write(f, &self.rerun)?;
        }
        if let Some((took, budget)) = self.narrowing {
            writeln!(
                f,
                "  time      = fuzzing {:.1} s, narrowing {:.1} s (of {} allowed)",
                self.stats.elapsed.as_secs_f64(),
                took.as_secs_f64(),
                // In whole seconds: a run that keeps going gives narrowing what is left.
                humantime::format_duration(
                    Duration::from_secs(budget.as_secs_f64().round() as u64)
                )
            )?;
        }
        self.write_regression(f)?;
        self.write_cases(f)?;
        self.write_answers_and_output(f)?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        writeln!(f)?;
        write!(f, "{}", self.stats)
    }
}

/// The parts of a finding's text, in the order they are written.
impl Finding {
    /// What the server printed that a report quotes: while the minimal case alone reached a
    /// fresh server when narrowing saw that (`true`), else during the run.
    fn output(&self) -> Option<(&ServerSummary, bool)> {
        match &self.narrowed {
            Some(Narrowed::Culprit {
                output: Some(alone),
                ..
            }) => Some((alone, true)),
            _ => self.server.as_ref().map(|s| (s, false)),
        }
    }

    /// What happened, with the panic's message when the server printed one as it died or
    /// as its alarm line (the line the alarm quotes holds only where it panicked).
    fn headline(&self) -> String {
        let headline = self.kind.headline();
        let panic = match &self.kind {
            FindingKind::ServerDied { .. } => true,
            FindingKind::OutputMatched { line, .. } => line.contains("panicked at"),
            _ => false,
        };
        let message = self
            .output()
            .map(|(s, _)| s)
            .filter(|_| panic)
            .and_then(|s| {
                s.stderr
                    .panic_message()
                    .or_else(|| s.stdout.panic_message())
            });
        match message {
            Some(message) if !headline.contains(&message) => match &self.kind {
                FindingKind::OutputMatched { stream, .. } => {
                    format!("the server panicked (on {stream}): {message}")
                }
                _ => format!("{headline}: {message}"),
            },
            _ => headline,
        }
    }

    /// What became of the regression line.
    fn write_regression(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        Ok(())
    }

    /// The two answers that differ, and what the server printed.
    fn write_answers_and_output(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = match (self.minimal(), self.culprit()) {
            (Some(minimal), _) => format!("the minimal case {}", minimal.splits()),
            (None, Some(culprit)) => format!("the culprit {}", culprit.splits()),
            (None, None) => "this split".to_owned(),
        };
        answers::write_answers(f, &self.kind, &whose)?;
        if let Some(first) = &self.first_seen {
            let whose = self
                .culprit()
                .map_or("the case first seen".to_owned(), |c| {
                    format!("the case first seen {}", c.splits())
                });
            if !matches!(first, FindingKind::ResponseDiffers { .. }) {
                writeln!(f)?;
                writeln!(f, "{whose} failed otherwise: {}", first.headline())?;
            }
            answers::write_answers(f, first, &whose)?;
        }
        if let Some((server, alone)) = self.output() {
            let when = if alone {
                " (a fresh server, the minimal case alone)"
            } else {
                ""
            };
            for (name, output) in [("stderr", &server.stderr), ("stdout", &server.stdout)] {
                if !output.is_empty() {
                    writeln!(f)?;
                    writeln!(f, "server {name}{when}:")?;
                    f.write_str(&output.indented())?;
                }
            }
        }
        Ok(())
    }
}

/// True when `a` and `b` are failures worth showing both of: of different kinds, answers
/// that differ otherwise, or protocol failures of another frame, code or answer.
fn fails_otherwise(a: &FindingKind, b: &FindingKind) -> bool {
    match (a, b) {
        (
            FindingKind::ResponseDiffers { actual: x, .. },
            FindingKind::ResponseDiffers { actual: y, .. },
        ) => x != y,
        (
            FindingKind::ProtocolFailure {
                what, code, answer, ..
            },
            FindingKind::ProtocolFailure {
                what: other_what,
                code: other_code,
                answer: other_answer,
                ..
            },
        ) => (what, code, answer) != (other_what, other_code, other_answer),
        _ => std::mem::discriminant(a) != std::mem::discriminant(b),
    }
}

mod answers;
mod cases;
#[cfg(test)]
mod tests;

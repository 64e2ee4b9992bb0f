//! The findings of a run that kept going after each one ([`Stutter::keep_going`],
//! [`StutterClient::keep_going`]): one per distinct signature, each with how many times it
//! was seen and when first, and the whole run's report. Read at a glance as a table; each
//! finding's own report comes first. One list serves both directions: what differs (a
//! server's finding or a client's, the report of a server run or a client run) is
//! [`Listed`].
//!
//! [`Stutter::keep_going`]: crate::Stutter::keep_going
//! [`StutterClient::keep_going`]: crate::StutterClient::keep_going

use std::fmt;
use std::time::Duration;

use super::{Finding, Report};

/// A finding a run that keeps going lists: a server's [`Finding`] or a client's
/// [`ClientFinding`](crate::ClientFinding).
pub trait Listed: fmt::Display + fmt::Debug + Clone + private::Sealed {
    /// The report of the whole run that comes with the list.
    type Run: fmt::Display + fmt::Debug + Clone;

    /// What tells this finding from another: its kind, and where it is when known.
    fn signature(&self) -> &str;

    /// The lines the summary table shows under the signature: the minimal case on its
    /// bytes, the line that replays it.
    #[doc(hidden)]
    fn summary_lines(&self) -> Vec<String>;

    /// The line that closes the list: the whole run's stats.
    #[doc(hidden)]
    fn closing_line(run: &Self::Run) -> String;
}

mod private {
    pub trait Sealed {}
    impl Sealed for crate::Finding {}
    impl Sealed for crate::ClientFinding {}
}

impl Listed for Finding {
    type Run = Report;

    fn signature(&self) -> &str {
        &self.signature
    }

    fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(view) = self.minimal_view() {
            lines.push(format!("minimal = {view}"));
        }
        match self.best_case() {
            Some(case) if self.minimal().is_some() || self.culprit().is_some() => {
                lines.push(format!("replay  = {}", self.replay_line(case)));
            }
            _ => {
                if let Some(again) = self.rerun.again(self.seed) {
                    lines.push(format!("reproduce = {again}   (the same run again)"));
                }
            }
        }
        lines
    }

    fn closing_line(run: &Report) -> String {
        run.stats.to_string()
    }
}

/// One distinct finding of a run that kept going.
#[derive(Clone, Debug)]
pub struct Distinct<F = Finding> {
    pub(crate) finding: F,
    pub(crate) seen: u64,
    pub(crate) first_at: Duration,
}

impl<F> Distinct<F> {
    /// The finding as first reported (confirmed and narrowed).
    pub fn finding(&self) -> &F {
        &self.finding
    }

    /// How many times the run met it (the first time included).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// How far into the run it was first found (the run's whole time: a server finding's
    /// own report's `time` line counts from the start of the part of the run it was found
    /// in).
    pub fn first_at(&self) -> Duration {
        self.first_at
    }
}

/// What a run that kept going found: its distinct findings in the order found, and the
/// whole run's report.
#[derive(Clone, Debug)]
pub struct Findings<F: Listed = Finding> {
    pub(crate) distinct: Vec<Distinct<F>>,
    pub(crate) report: F::Run,
    /// The whole run's time: fuzzing, and narrowing and restarts between its parts.
    pub(crate) took: Duration,
}

impl<F: Listed> Findings<F> {
    /// No finding yet, in a run whose report is `report` so far.
    pub(crate) fn new(report: F::Run) -> Self {
        Findings {
            distinct: Vec::new(),
            report,
            took: Duration::ZERO,
        }
    }

    /// The distinct findings, in the order they were found.
    pub fn distinct(&self) -> &[Distinct<F>] {
        &self.distinct
    }

    /// How the whole run went: its stats (a server run's with `restarts`), its notes.
    pub fn report(&self) -> &F::Run {
        &self.report
    }

    /// Counts one more meeting with the finding of this signature, if it is listed.
    pub(crate) fn met_again(&mut self, signature: &str) -> bool {
        match self
            .distinct
            .iter_mut()
            .find(|d| d.finding.signature() == signature)
        {
            Some(d) => {
                d.seen += 1;
                true
            }
            None => false,
        }
    }

    /// Takes in a finding met at `at` into the run: a known signature adds to its count, a
    /// new one is a distinct finding, returned.
    pub(crate) fn add(&mut self, finding: F, at: Duration) -> Option<&F> {
        if self.met_again(finding.signature()) {
            return None;
        }
        self.distinct.push(Distinct {
            finding,
            seen: 1,
            first_at: at,
        });
        self.distinct.last().map(|d| &d.finding)
    }

    /// The summary table: one line per distinct finding, with its minimal case on its
    /// bytes and the line that replays it.
    pub fn summary(&self) -> String {
        let total: u64 = self.distinct.iter().map(|d| d.seen).sum();
        let mut out = format!(
            "stutterfuzz found {} distinct bug{} ({total} finding{} in all) in {:.1} s:\n",
            self.distinct.len(),
            if self.distinct.len() == 1 { "" } else { "s" },
            if total == 1 { "" } else { "s" },
            self.took.as_secs_f64(),
        );
        for (i, d) in self.distinct.iter().enumerate() {
            out.push_str(&format!(
                "{:>3}. {}\n     seen {} time{}, first after {:.1} s\n",
                i + 1,
                d.finding.signature(),
                d.seen,
                if d.seen == 1 { "" } else { "s" },
                d.first_at.as_secs_f64()
            ));
            for line in d.finding.summary_lines() {
                out.push_str(&format!("     {line}\n"));
            }
        }
        out
    }
}

impl<F: Listed> fmt::Display for Findings<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.distinct.iter().enumerate() {
            writeln!(f, "== finding {} of {} ==", i + 1, self.distinct.len())?;
            writeln!(f, "{}", d.finding)?;
        }
        write!(f, "{}", self.summary())?;
        writeln!(f, "{}", F::closing_line(&self.report))
    }
}

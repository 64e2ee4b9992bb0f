//! The findings of a run that kept going after each one ([`Stutter::keep_going`]): one
//! per distinct signature, each with how many times it was seen and when first, and the
//! whole run's stats. Read at a glance as a table; each finding's own report comes first.
//!
//! [`Stutter::keep_going`]: crate::Stutter::keep_going

use std::fmt;
use std::time::Duration;

use super::{Finding, Report};

/// One distinct finding of a run that kept going.
#[derive(Clone, Debug)]
pub struct Distinct {
    pub(crate) finding: Finding,
    pub(crate) seen: u64,
    pub(crate) first_at: Duration,
}

impl Distinct {
    /// The finding as first reported (confirmed and narrowed).
    pub fn finding(&self) -> &Finding {
        &self.finding
    }

    /// How many times the run met it (the first time included).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// How far into the run it was first found (the run's whole time: its own report's
    /// `time` line counts from the start of the part of the run it was found in).
    pub fn first_at(&self) -> Duration {
        self.first_at
    }
}

/// What a run that kept going found: its distinct findings in the order found, and the
/// whole run's report.
#[derive(Clone, Debug)]
pub struct Findings {
    pub(crate) distinct: Vec<Distinct>,
    pub(crate) report: Report,
    /// The whole run's time: fuzzing, and narrowing and restarts between its parts.
    pub(crate) took: Duration,
}

impl Findings {
    /// The distinct findings, in the order they were found.
    pub fn distinct(&self) -> &[Distinct] {
        &self.distinct
    }

    /// How the whole run went: its stats (with `restarts`), its end, its notes.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Takes in a finding met at `at` into the run: a known signature adds to its count, a
    /// new one is a distinct finding, returned.
    pub(crate) fn add(&mut self, finding: Finding, at: Duration) -> Option<&Finding> {
        match self
            .distinct
            .iter()
            .position(|d| d.finding.signature == finding.signature)
        {
            Some(i) => {
                self.distinct[i].seen += 1;
                None
            }
            None => {
                self.distinct.push(Distinct {
                    finding,
                    seen: 1,
                    first_at: at,
                });
                self.distinct.last().map(|d| &d.finding)
            }
        }
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
            let f = &d.finding;
            out.push_str(&format!(
                "{:>3}. {}\n     seen {} time{}, first after {:.1} s\n",
                i + 1,
                f.signature,
                d.seen,
                if d.seen == 1 { "" } else { "s" },
                d.first_at.as_secs_f64()
            ));
            if let Some(view) = f.minimal_view() {
                out.push_str(&format!("     minimal = {view}\n"));
            }
            match f.best_case() {
                Some(case) if f.minimal().is_some() || f.culprit().is_some() => {
                    out.push_str(&format!("     replay  = {}\n", f.replay_line(case)));
                }
                _ => {
                    if let Some(again) = f.rerun.again(f.seed) {
                        out.push_str(&format!(
                            "     reproduce = {again}   (the same run again)\n"
                        ));
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.distinct.iter().enumerate() {
            writeln!(f, "== finding {} of {} ==", i + 1, self.distinct.len())?;
            writeln!(f, "{}", d.finding)?;
        }
        write!(f, "{}", self.summary())?;
        writeln!(f, "{}", self.report.stats)
    }
}

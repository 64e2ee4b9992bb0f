//! The findings of a client run that goes on after them ([`StutterClient::keep_going`],
//! [`StutterClient::known`]): each told apart by its signature, a known one counted and not
//! reported, one met again counted and not narrowed again, each new one handed to the
//! caller's hook the moment it is made. The client runs anew for every try, so unlike a
//! server run nothing has to be started again between findings.
//!
//! [`StutterClient::keep_going`]: crate::StutterClient::keep_going
//! [`StutterClient::known`]: crate::StutterClient::known

use std::time::Instant;

use super::plan::KeepGoingRule;
use super::report::{ClientFailure, ClientFinding, ClientReport};
use crate::report::Findings;

/// What a client run has found so far, when it goes on after findings.
pub(super) struct Tally {
    rule: KeepGoingRule,
    started: Instant,
    known_met: u64,
    found: Option<Findings<ClientFinding>>,
}

impl Tally {
    pub(super) fn new(rule: KeepGoingRule, started: Instant) -> Self {
        Tally {
            rule,
            started,
            known_met: 0,
            found: None,
        }
    }

    /// Whether the run goes on after a finding it meets: it keeps going, or has known
    /// findings to pass over.
    pub(super) fn goes_on(&self) -> bool {
        self.rule.on || !self.rule.known.is_empty()
    }

    /// Counts a finding of this signature when the run has met it before (in the
    /// known-findings file, or found already): then it is neither narrowed nor reported.
    pub(super) fn met_before(&mut self, signature: &str) -> bool {
        if self.rule.known.iter().any(|known| known == signature) {
            self.known_met += 1;
            return true;
        }
        self.found
            .as_mut()
            .is_some_and(|found| found.met_again(signature))
    }

    /// Takes in a confirmed, narrowed finding. `Err` when the run stops at it (a new
    /// finding of a run that does not keep going).
    pub(super) fn take(
        &mut self,
        mut finding: Box<ClientFinding>,
        report: &ClientReport,
    ) -> Result<(), ClientFailure> {
        if self.met_before(&finding.signature) {
            return Ok(());
        }
        if !self.rule.on {
            finding.notes.extend(self.known_note());
            return Err(ClientFailure::Finding(finding));
        }
        let at = self.started.elapsed();
        let found = self
            .found
            .get_or_insert_with(|| Findings::new(report.clone()));
        if let (Some(new), Some(hook)) = (found.add(*finding, at), &self.rule.on_finding) {
            hook.call(new);
        }
        Ok(())
    }

    /// The findings so far, in the report a progress line shows.
    pub(super) fn count(&self, report: &mut ClientReport) {
        let distinct = self.found.as_ref().map_or(&[][..], |all| all.distinct());
        report.findings_distinct = distinct.len() as u64;
        report.findings_met = distinct.iter().map(|d| d.seen()).sum();
    }

    /// How the run ends: the report when nothing new was found, else every distinct finding.
    pub(super) fn end(self, mut report: ClientReport) -> Result<ClientReport, ClientFailure> {
        self.count(&mut report);
        report.notes.extend(self.known_note());
        match self.found {
            None => Ok(report),
            Some(mut found) => {
                found.report = report;
                found.took = self.started.elapsed();
                Err(ClientFailure::Findings(Box::new(found)))
            }
        }
    }

    fn known_note(&self) -> Option<String> {
        crate::report::known::note(self.known_met)
    }
}

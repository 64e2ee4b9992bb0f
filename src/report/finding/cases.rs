//! The report's suspects: how many and how sure, then the one case in full or the first
//! few one line each, with the line that replays (or reruns) what failed.

use std::fmt;

use super::{Finding, LISTED};
use crate::engine::Stood;
use crate::oracle::FindingKind;
use crate::report::narrowed::{Narrowed, NotNarrowed};

impl Finding {
    /// How many suspects, and how sure the run is of them.
    pub(super) fn write_suspects_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            (None, 1) if self.suspects[0].seen.stood == Stood::Culprit => {
                // Say what the evidence is: its own answer, or the server's end or output
                // while it was the one delivery.
                let evidence = match self.kind {
                    FindingKind::ResponseDiffers { .. }
                    | FindingKind::ProtocolFailure { .. }
                    | FindingKind::CheckFailed { .. } => "the bug shows in its own response",
                    FindingKind::NoResponse { .. } => "its own connection went unanswered",
                    _ => "it was the only delivery when the server did this",
                };
                writeln!(f, "  suspects  = 1 case, certain: {evidence}")?;
            }
            (None, 1) => writeln!(f, "  suspects  = 1 case, the only one in flight")?,
            (None, n) if self.culprit().is_some() => writeln!(
                f,
                "  suspects  = {n} cases in flight or just finished; the culprit below failed alone \
                 (all of them: Finding::suspects(); on the command line, the failure file)"
            )?,
            (None, n) => writeln!(
                f,
                "  suspects  = {n} cases in flight or just finished; any of them may be the cause \
                 (replay each to see which fails alone)"
            )?,
        }
        Ok(())
    }

    /// The one case in full, or the first suspects one line each.
    pub(super) fn write_cases(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.suspects.as_slice() {
            writeln!(f)?;
            writeln!(f, "the case ({})", only.progress())?;
            writeln!(
                f,
                "  blob      = {} ({} bytes)",
                only.seen.blob_origin, only.seen.blob_len
            )?;
            let pause = only.seen.case.pause_note();
            writeln!(f, "  splits    = {}{pause}", only.seen.case.splits())?;
            if let Some(view) = &only.view {
                let legend = crate::case::legend(view);
                writeln!(f, "              {view}   {legend}")?;
            }
            if let Some(it) = only.seen.iteration {
                writeln!(f, "  delivery  = #{} of this blob in this run", it + 1)?;
            }
            writeln!(f, "  case      = {}", only.seen.case)?;
            // Narrowed, the one replay line is the minimal case's, above.
            if self.run_level() {
                self.write_reproduce(f)?;
            } else if self.minimal().is_none() {
                writeln!(f, "  replay    = {}", self.rerun.line(&only.seen.case))?;
            }
        } else if self.culprit().is_some() {
            // The culprit failed alone: the others are only a count, above.
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
                    "     and {more} more suspects (all of them: Finding::suspects(); on the command line, the failure file)"
                )?;
            }
            // No replay line where narrowing showed no case is to blame.
            let blameless = matches!(
                self.narrowed,
                Some(Narrowed::DiesAfter { .. } | Narrowed::Together { .. })
            );
            if self.run_level() {
                self.write_reproduce(f)?;
            } else if self.culprit().is_none() && !blameless {
                writeln!(f, "  replay    = {}", self.rerun.line(&first.seen.case))?;
            }
        } else if self.run_level() {
            self.write_reproduce(f)?;
        }
        Ok(())
    }

    /// A server that stopped accepting or reading shows only under the whole run's load,
    /// and so does a finding no suspect showed again alone.
    fn run_level(&self) -> bool {
        !self.shown_alone()
    }

    /// Whether one case alone shows this finding, so that replaying a case means
    /// something: false for a server that stopped accepting or reading (only the whole
    /// run's load shows it) and for suspects none of which failed again alone; then the
    /// same run again (its seed) is what reproduces it.
    pub fn shown_alone(&self) -> bool {
        !self.kind.treatment().whole_run
            && !matches!(
                self.narrowed,
                Some(
                    Narrowed::NotTried(NotNarrowed::StopsAccepting | NotNarrowed::StopsReading)
                        | Narrowed::NoneAlone { .. }
                )
            )
    }

    /// The run again, not one case, for a finding only the whole run's load shows.
    fn write_reproduce(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(again) = self.rerun.again(self.seed) {
            writeln!(
                f,
                "  reproduce = {again}   (the same run again: no case alone shows this)"
            )?;
        }
        Ok(())
    }
}

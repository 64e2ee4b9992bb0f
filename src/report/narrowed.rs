//! What narrowing learnt after a finding, and why it was not tried.

use std::fmt;

use super::Rerun;
use crate::case::{Case, case_view};
use crate::oracle::FindingKind;
use crate::server::ServerSummary;

/// What narrowing learnt after the finding.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per finding, never in a collection or a hot path"
)]
pub(crate) enum Narrowed {
    /// Not attempted, and why.
    NotTried(NotNarrowed),
    /// No suspect failed alone; `together` says whether all of them at once did.
    NoneAlone {
        tried: usize,
        together: Option<bool>,
    },
    /// No case fails alone, but these fail together (and no smaller set of them does, as far
    /// as the budget went): a bug that needs several cases at once.
    Together { cases: Vec<Case> },
    /// No case fails alone; all together do, and so do as many blobs sent whole: the server
    /// dies after about that many connections, whatever they carry. No boundary bug.
    DiesAfter { connections: usize },
    /// One case fails alone, but shrinking it led to the blob sent whole, which fails the
    /// same way: not a boundary bug.
    Unsplit { original: Case },
    /// One case fails alone; its pattern shrunk to `minimal`.
    Culprit {
        original: Case,
        minimal: Case,
        /// (failures, deliveries) of the minimal case.
        reproduced: (u32, u32),
        /// How the minimal case failed when it was reproduced: its own answer or exit.
        evidence: Option<Box<FindingKind>>,
        /// What the server printed when the minimal case alone reached a fresh one.
        output: Option<Box<ServerSummary>>,
        /// False when the budget ran out before the pattern was locally minimal.
        complete: bool,
        /// The original and the minimal case shown on the blob's bytes (`case::case_view`).
        views: (String, String),
        /// Where the minimal case's cuts fall among the blob's frames, in words
        /// (`case::frame_cuts`), when it has frames.
        frame_cuts: Option<String>,
    },
}

impl Narrowed {
    /// One case fails alone, and `minimal` is what its pattern shrank to; `blob` is the
    /// bytes both cut.
    pub(crate) fn culprit(
        original: Case,
        minimal: Case,
        reproduced: Reproduced,
        complete: bool,
        blob: &[u8],
    ) -> Self {
        let views = (case_view(blob, &original), case_view(blob, &minimal));
        let frame_cuts = crate::case::frame_cuts(blob, &minimal);
        Narrowed::Culprit {
            original,
            minimal,
            reproduced: (reproduced.failed, reproduced.tries),
            evidence: reproduced.evidence.map(Box::new),
            output: reproduced.output.map(Box::new),
            complete,
            views,
            frame_cuts,
        }
    }
}

/// How often the minimal case failed when delivered again, and how, the first time; and
/// what the server printed when it alone reached a fresh server.
#[derive(Clone, Debug)]
pub(crate) struct Reproduced {
    pub(crate) failed: u32,
    pub(crate) tries: u32,
    pub(crate) evidence: Option<FindingKind>,
    pub(crate) output: Option<ServerSummary>,
}

impl Narrowed {
    /// The report's culprit lines: what narrowing learnt, and the replay line of the
    /// minimal case.
    pub(crate) fn write(&self, f: &mut fmt::Formatter<'_>, rerun: &Rerun) -> fmt::Result {
        match self {
            Narrowed::Culprit {
                original,
                minimal,
                reproduced: (x, y),
                complete,
                views: (original_view, minimal_view),
                frame_cuts,
                ..
            } => {
                writeln!(f, "  culprit   = {original} fails alone")?;
                if original_view != minimal_view {
                    writeln!(f, "              {original_view}")?;
                }
                let how = if *complete {
                    "locally minimal: no chunk can be dropped, no cut moved earlier"
                } else {
                    "shrinking budget ran out"
                };
                let from = if minimal.splits() == original.splits() {
                    ", as found".to_owned()
                } else {
                    format!(" from {}", original.splits())
                };
                writeln!(
                    f,
                    "  minimal   = {}{from}{} ({how}), reproduced {x}/{y}",
                    minimal.splits(),
                    minimal.pause_note()
                )?;
                let legend = crate::case::legend(minimal_view);
                writeln!(f, "              {minimal_view}   {legend}")?;
                if let Some(frame_cuts) = frame_cuts {
                    writeln!(f, "              in frames: {frame_cuts}")?;
                }
                writeln!(f, "  replay    = {}", rerun.line(minimal))?;
            }
            Narrowed::NoneAlone { tried, together } => {
                let together = match together {
                    Some(true) => "; all of them at once fail: the bug needs concurrency",
                    Some(false) => "; all of them at once do not fail either: it may be flaky",
                    None => "",
                };
                writeln!(
                    f,
                    "  culprit   = none: {tried} suspects replayed alone, none failed{together}"
                )?;
            }
            Narrowed::Together { cases } => {
                writeln!(
                    f,
                    "  culprit   = none alone: these {} cases fail together, and no smaller set of them does:",
                    cases.len()
                )?;
                for case in cases {
                    writeln!(f, "              {case}")?;
                }
            }
            Narrowed::NotTried(why) => writeln!(f, "  culprit   = not searched: {why}")?,
            Narrowed::DiesAfter { connections } => writeln!(
                f,
                "  culprit   = none: not a boundary bug: the server dies after about {connections} connections, whatever they carry (as many blobs sent whole kill it too)"
            )?,
            Narrowed::Unsplit { original } => writeln!(
                f,
                "  culprit   = {original} fails alone, and so does its blob sent whole, in one write: \
                 this is no boundary bug (the answer depends on something else: time, state, \
                 other clients; see .mask / --mask)"
            )?,
        }
        Ok(())
    }
}

/// Why narrowing was not tried.
#[derive(Clone, Debug)]
pub(crate) enum NotNarrowed {
    /// The shrink budget is zero (time or attempts).
    Off,
    /// The finding is that the server stopped accepting, which no single case shows.
    StopsAccepting,
    /// The finding is that the server stopped reading, which one delivery alone does not
    /// watch for.
    StopsReading,
    /// The harness did not start the server, so it cannot restart it for each suspect.
    CannotRestart,
    /// The server could not be restarted to replay the suspects.
    RestartFailed(String),
}

impl fmt::Display for NotNarrowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotNarrowed::Off => f.write_str("shrinking is off"),
            NotNarrowed::StopsAccepting => f.write_str(
                "a server that stops accepting is not narrowed: one case alone cannot show it, since \
                 the kernel completes connects while the listen backlog has room",
            ),
            NotNarrowed::StopsReading => f.write_str(
                "a server that stops reading is not narrowed: a single replayed delivery does not \
                 watch for it; replay the suspects with a response timeout (AnswerOracle::within, \
                 --response-timeout) to see which one hangs",
            ),
            NotNarrowed::CannotRestart => f.write_str(
                "the harness did not start the server, so it cannot restart it to replay the suspects",
            ),
            NotNarrowed::RestartFailed(error) => {
                write!(f, "the server could not be restarted: {error}")
            }
        }
    }
}

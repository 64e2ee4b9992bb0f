//! What a run tells its user: a [`Report`] when no bug was found, a [`Finding`] when one
//! was. Both are plain values formatted by hand-written `Display`s: a headline, aligned
//! `key = value` lines, the exact line that replays each case, the server's output
//! truncated head and tail with explicit markers, and the stats.

mod finding;
mod format;
mod outcome;
pub(crate) mod regression;

pub use finding::{Finding, FindingKind, Suspect};
pub(crate) use finding::{Narrowed, RegressionNote, Rerun, ServerRecord, SuspectState};
pub(crate) use format::format_output;
pub use outcome::{Report, RunEnd};

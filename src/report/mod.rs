//! What a run tells its user: a [`Report`] when no bug was found, a [`Finding`] when one
//! was. Both are plain values formatted by hand-written `Display`s: a headline, aligned
//! `key = value` lines, the exact line that replays each case, the server's output
//! truncated head and tail with explicit markers, and the stats.

mod failure;
mod finding;
mod findings;
pub(crate) mod format;
pub(crate) mod known;
mod narrowed;
mod outcome;
pub(crate) mod regression;
mod rerun;
pub(crate) mod signature;
mod suspect;

pub use failure::Failure;
pub use finding::Finding;
pub(crate) use finding::RegressionNote;
pub use findings::{Distinct, Findings, Listed};
pub(crate) use narrowed::{Narrowed, NotNarrowed, Reproduced};
pub use outcome::Report;
pub(crate) use rerun::Rerun;
pub use suspect::Suspect;

//! Split patterns: how one blob is cut into chunks, each sent with its own `write()`.
//!
//! [`Splits`] is the pattern itself (chunk sizes, in order); [`generate`] draws one from a
//! case's random stream. Both are pure, so they are tested without sockets.

mod generate;
mod pattern;

pub(crate) use generate::original;
pub use pattern::{ParseSplitsError, Splits};

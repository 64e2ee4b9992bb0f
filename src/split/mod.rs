//! Split patterns: how one blob is cut into chunks, each sent with its own `write()`.
//!
//! [`Splits`] is the pattern itself (chunk sizes, in order); `generate` draws one from a
//! case's random stream in a [`SplitMode`]; [`splits`] is the proptest strategy; `Coverage`
//! records which offsets of each blob have been a boundary. All pure, tested without sockets.

mod coverage;
mod frames;
mod generate;
mod headers;
mod pattern;
mod records;
mod strategy;

pub(crate) use coverage::Coverage;
pub use generate::SplitMode;
pub(crate) use generate::{INTO_RECORD, generate, mid_record};
pub use pattern::{ParseSplitsError, Splits};
pub(crate) use records::Shape;
#[allow(deprecated)]
pub use strategy::{split_patterns, splits};

//! Split patterns: how one blob is cut into chunks, each sent with its own `write()`.
//!
//! [`Splits`] is the pattern itself (chunk sizes, in order); `generate` draws one from a
//! case's random stream in a [`SplitMode`]; [`splits`] is the proptest strategy; `Coverage`
//! records which offsets of each blob have been a boundary. All pure, tested without sockets.

mod coverage;
mod frames;
mod generate;
mod headers;
pub(crate) mod http2;
mod pattern;
mod records;
mod strategy;
pub(crate) mod websocket;

pub(crate) use coverage::Coverage;
pub(crate) use frames::{Direction, upgrade_head};
pub use generate::SplitMode;
pub(crate) use generate::{INTO_RECORD, generate, mid_record};
/// An HTTP/2 frame's bytes, for tests anywhere in the crate.
#[cfg(test)]
pub(crate) use http2::tests::h2 as h2_frame;
pub use pattern::{ParseSplitsError, Splits};
pub(crate) use records::Shape;
#[allow(deprecated)]
pub use strategy::{split_patterns, splits};

/// The split patterns of deliveries `0..deliveries` of a blob of `bytes` (one part) under
/// `seed`, drawn as the default mix draws them, none closed early: with its frames known,
/// or (`frames` false) as before frames were known. For the benchmark that compares the two.
#[doc(hidden)]
pub fn drawn_patterns(
    bytes: &[u8],
    seed: crate::rng::Seed,
    deliveries: u64,
    frames: bool,
) -> Vec<Splits> {
    let shape = Shape {
        frames,
        ..Shape::plain(bytes)
    };
    drawn(shape, seed, deliveries)
}

/// The same for a server's answers on one connection, as client mode draws their cuts: read
/// as answers (`answers` true: an HTTP/2 server's frames from its SETTINGS, a WebSocket
/// server's after its `101`), or as a client's requests, as client mode read them before.
#[doc(hidden)]
pub fn drawn_answer_patterns(
    bytes: &[u8],
    seed: crate::rng::Seed,
    deliveries: u64,
    answers: bool,
) -> Vec<Splits> {
    let shape = match answers {
        true => Shape::answers(bytes),
        false => Shape::plain(bytes),
    };
    drawn(shape, seed, deliveries)
}

fn drawn(shape: Shape<'_>, seed: crate::rng::Seed, deliveries: u64) -> Vec<Splits> {
    (0..deliveries)
        .map(|i| generate(SplitMode::Mixed, shape, i, 0, &mut seed.case_rng("blob", i)))
        .collect()
}

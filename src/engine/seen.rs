//! What the engine saw of a delivery when it stopped at a failure: the case, its blob, its
//! number in the run, what it had sent, and where it stood. The engine knows deliveries, not
//! findings; the report makes its suspects of these.

use std::time::Duration;

use crate::case::Case;
use crate::corpus::Blob;

/// Where a delivery stood when the failure showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stood {
    /// Still being delivered.
    InFlight,
    /// Finished this long before the failure was noticed.
    FinishedBefore(Duration),
    /// Delivered again on its own: a replay, or a case recorded in a regression file.
    Replayed,
    /// The delivery whose own response showed the failure.
    Culprit,
    /// In flight while the culprit paused mid-message.
    Victim,
}

/// A delivery as the engine saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) case: Case,
    pub(crate) blob_origin: String,
    pub(crate) blob_len: usize,
    pub(crate) iteration: Option<u64>,
    pub(crate) chunks_sent: usize,
    pub(crate) bytes_sent: usize,
    pub(crate) stood: Stood,
}

impl Seen {
    /// `case` of `blob`, where it stood: by default it sent every chunk of the case and is
    /// no numbered delivery of a run.
    pub(crate) fn new(case: Case, blob: &Blob, stood: Stood) -> Self {
        Seen {
            chunks_sent: case.splits().len(),
            bytes_sent: case.splits().total(),
            case,
            blob_origin: blob.origin(),
            blob_len: blob.len(),
            iteration: None,
            stood,
        }
    }

    /// What it had sent when the failure showed.
    pub(crate) fn sent(mut self, chunks: usize, bytes: usize) -> Self {
        self.chunks_sent = chunks;
        self.bytes_sent = bytes;
        self
    }

    /// Which delivery of its blob it was in the run.
    pub(crate) fn iteration(mut self, iteration: u64) -> Self {
        self.iteration = Some(iteration);
        self
    }
}

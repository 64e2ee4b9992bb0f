//! A case that may have caused a finding, and where it stood when the bug showed.

use std::time::Duration;

use crate::case::Case;
use crate::corpus::Blob;

/// Where a suspect case stood when the bug showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SuspectState {
    /// Still being delivered.
    InFlight,
    /// Finished this long before the bug was noticed.
    FinishedBefore(Duration),
    /// The only case of a replay.
    Replayed,
    /// The delivery whose own response showed the bug.
    Culprit,
    /// In flight while the culprit paused mid-message.
    Victim,
}

/// A case that may have caused a finding.
#[derive(Clone, Debug)]
pub struct Suspect {
    pub(crate) case: Case,
    pub(crate) blob_origin: String,
    pub(crate) blob_len: usize,
    pub(crate) iteration: Option<u64>,
    pub(crate) chunks_sent: usize,
    pub(crate) bytes_sent: usize,
    pub(crate) state: SuspectState,
}

impl Suspect {
    /// `case` of `blob`, as it stood (`state`): by default it sent every chunk of the case
    /// and is no numbered delivery of a run.
    pub(crate) fn new(case: Case, blob: &Blob, state: SuspectState) -> Self {
        Suspect {
            chunks_sent: case.splits().len(),
            bytes_sent: case.splits().total(),
            case,
            blob_origin: blob.origin(),
            blob_len: blob.len(),
            iteration: None,
            state,
        }
    }

    /// What it had sent when the bug showed.
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

    /// The case: its blob and split pattern.
    pub fn case(&self) -> &Case {
        &self.case
    }

    /// The blob's length in bytes.
    pub fn blob_len(&self) -> usize {
        self.blob_len
    }

    /// Chunks sent before the finding.
    pub fn chunks_sent(&self) -> usize {
        self.chunks_sent
    }

    /// Bytes sent before the finding.
    pub fn bytes_sent(&self) -> usize {
        self.bytes_sent
    }

    /// True if the delivery was still under way when the bug showed.
    pub fn in_flight(&self) -> bool {
        self.state == SuspectState::InFlight
    }

    /// True for the delivery that paused mid-message while its probe went unserved.
    pub(super) fn paused_culprit(&self) -> bool {
        self.state == SuspectState::Culprit && self.case.stall().is_some()
    }

    /// One short line for a report's list: where it stood, its blob, and its case string
    /// (cut short when long; the whole one is in `Finding::suspects` and the failure file).
    pub(super) fn short_line(&self) -> String {
        const LONG: usize = 72;
        let mut case = self.case.to_string();
        if case.len() > LONG {
            let cut = (0..=LONG)
                .rev()
                .find(|&i| case.is_char_boundary(i))
                .unwrap_or(0);
            case.truncate(cut);
            case.push('…');
        }
        format!(
            "{}: {} ({} bytes), {case}",
            self.progress(),
            self.blob_origin,
            self.blob_len
        )
    }

    pub(super) fn progress(&self) -> String {
        let drawn = self.case.splits().len();
        let state = match self.state {
            SuspectState::InFlight => "in flight".to_owned(),
            SuspectState::Replayed => "replayed".to_owned(),
            SuspectState::Culprit if self.case.stall().is_some() => {
                "it paused mid-message while the probe went unserved".to_owned()
            }
            SuspectState::Culprit => "its response shows the bug".to_owned(),
            SuspectState::Victim => "in flight during the pause".to_owned(),
            SuspectState::FinishedBefore(d) => {
                format!("finished {} ms before it showed", d.as_millis())
            }
        };
        format!("{state}, sent {} of {drawn} chunks", self.chunks_sent)
    }
}

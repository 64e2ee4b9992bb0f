//! A case that may have caused a finding, and where it stood when the bug showed.

use crate::case::Case;
use crate::engine::{Seen, Stood};

/// A case that may have caused a finding: a delivery as the engine saw it when the bug
/// showed.
#[derive(Clone, Debug)]
pub struct Suspect {
    pub(crate) seen: Seen,
    /// The case on its blob's bytes, each cut a `|`, when the blob is known.
    pub(crate) view: Option<String>,
}

impl From<Seen> for Suspect {
    fn from(seen: Seen) -> Self {
        Suspect { seen, view: None }
    }
}

impl Suspect {
    /// The case: its blob and split pattern.
    pub fn case(&self) -> &Case {
        &self.seen.case
    }

    /// The blob's length in bytes.
    pub fn blob_len(&self) -> usize {
        self.seen.blob_len
    }

    /// Chunks sent before the finding.
    pub fn chunks_sent(&self) -> usize {
        self.seen.chunks_sent
    }

    /// Bytes sent before the finding.
    pub fn bytes_sent(&self) -> usize {
        self.seen.bytes_sent
    }

    /// True if the delivery was still under way when the bug showed.
    pub fn in_flight(&self) -> bool {
        self.seen.stood == Stood::InFlight
    }

    /// True for the delivery that paused mid-message while its probe went unserved.
    pub(super) fn paused_culprit(&self) -> bool {
        self.seen.stood == Stood::Culprit && self.seen.case.stall().is_some()
    }

    /// One short line for a report's list: where it stood, its blob, and its case string
    /// (cut short when long; the whole one is in `Finding::suspects` and the failure file).
    pub(super) fn short_line(&self) -> String {
        const LONG: usize = 72;
        let mut case = self.seen.case.to_string();
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
            self.seen.blob_origin,
            self.seen.blob_len
        )
    }

    pub(super) fn progress(&self) -> String {
        let drawn = self.seen.case.splits().len();
        let state = match self.seen.stood {
            Stood::InFlight => "in flight".to_owned(),
            Stood::Replayed => "replayed".to_owned(),
            Stood::Culprit if self.seen.case.stall().is_some() => {
                "it paused mid-message while the probe went unserved".to_owned()
            }
            Stood::Culprit => "its response shows the bug".to_owned(),
            Stood::Victim => "in flight during the pause".to_owned(),
            Stood::FinishedBefore(d) => {
                format!("finished {} ms before it showed", d.as_millis())
            }
        };
        format!("{state}, sent {} of {drawn} chunks", self.seen.chunks_sent)
    }
}

//! A case: one blob and the exact chunks it is sent in. Its string form (`v1:ping.txt:3,3`)
//! is what reports print and what replay takes.
//!
//! A case string carries the blob's name and the chunk sizes explicitly, so replaying it
//! needs neither the seed nor the random generator, and still works after blobs are added.
//! A case may also pause mid-message (a [`Stall`], `;stall=AT@MSms` after the sizes) and
//! read its response slowly (a [`SlowRead`], `;slow=PIECExCOUNT@MSms`): both decide what the
//! server sees as much as the chunks do, so the string replays them too.
//!
//! Version 2 adds what version 1 cannot say: where a conversation waits for the server
//! (`;waits=bytes=11@0,pattern=250@8`, see [`waits`]) and that the case went over TLS
//! (`;tls`). A case that has neither is still written `v1`, so strings printed before keep
//! their meaning and older versions of the tool can replay it; both versions are read.

mod cut_view;
mod frame_cuts;
mod input;
mod manner;
mod text;
mod waits;

pub(crate) use cut_view::{case_view, cut_view_at, legend};
pub(crate) use frame_cuts::{frame_cuts, frame_kind_at};

/// The version word of a client case (`c1:SOURCE:SIZES`), which cuts a client's answers.
pub(crate) const CLIENT_VERSION: &str = "c1";

/// Whether `text` is a client case (`c1:...`), for [`StutterClient`](crate::StutterClient)
/// rather than a server run.
pub(crate) fn is_client_case(text: &str) -> bool {
    text.trim()
        .strip_prefix(CLIENT_VERSION)
        .is_some_and(|rest| rest.starts_with(':'))
}
pub use input::{InputError, MAX_SLOW_PAUSE_MS, MAX_SLOW_READS, case_of_input, input_of_case};
pub use manner::{SlowRead, Stall};
pub use text::ParseCaseError;
pub(crate) use text::{RegressionFields, regression_fields};

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;

use crate::corpus::{Blob, WaitPoint};
use crate::rng::Seed;
use crate::split::{self, SplitMode, Splits};

/// One delivery: which blob, cut into which chunks.
///
/// ```
/// use stutterfuzz::Case;
///
/// let case: Case = "v1:set-get.txt:3,1,19".parse()?;
/// assert_eq!(case.blob(), "set-get.txt");
/// assert_eq!(case.splits().to_string(), "[3, 1, 19]");
/// assert_eq!(case.to_string(), "v1:set-get.txt:3,1,19");
/// # Ok::<(), stutterfuzz::ParseCaseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    blob: String,
    splits: Splits,
    stall: Option<Stall>,
    slow: Option<SlowRead>,
    /// A conversation's waits; empty: the blob's own (a plain blob has none).
    waits: Arc<[WaitPoint]>,
    /// Sent over TLS, one record per chunk.
    tls: bool,
}

impl Case {
    /// The case that sends the blob named `blob` in these chunks.
    pub fn new(blob: impl Into<String>, splits: Splits) -> Self {
        Case {
            blob: blob.into(),
            splits,
            stall: None,
            slow: None,
            waits: Arc::from([]),
            tls: false,
        }
    }

    /// The same case, waiting for the server as `waits` say (a conversation's turns); each
    /// wait inside what the case sends is a chunk boundary too.
    pub fn with_waits(mut self, waits: &[WaitPoint]) -> Self {
        let mut waits = waits.to_vec();
        waits.sort_by_key(|w| w.at);
        for wait in &waits {
            if wait.at > 0 && wait.at < self.splits.total() {
                self.splits = self.splits.with_boundary(wait.at);
            }
        }
        self.waits = Arc::from(waits);
        self
    }

    /// The same case, sent over TLS (`true`) or plain TCP.
    pub fn over_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Where the case waits for the server: the waits it was recorded with, or none when it
    /// takes its blob's own (a `v1` string, or a plain blob).
    pub fn waits(&self) -> &[WaitPoint] {
        &self.waits
    }

    /// Whether the case went over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The same case, pausing as `stall` says; a boundary is added where the pause falls, if
    /// there is none. A pause at or after the last byte sent is dropped: there is nothing
    /// after it to wait for.
    pub fn with_stall(mut self, stall: Stall) -> Self {
        if stall.at() > 0 && stall.at() < self.splits.total() {
            self.splits = self.splits.with_boundary(stall.at());
            self.stall = Some(stall);
        } else {
            self.stall = None;
        }
        self
    }

    /// The same case, reading its response slowly as `slow` says (or at full speed).
    pub fn with_slow_read(mut self, slow: Option<SlowRead>) -> Self {
        self.slow = slow;
        self
    }

    /// The same blob, pause, reads, waits and transport in other chunks (the pause keeps its
    /// place).
    pub(crate) fn resplit(&self, splits: Splits) -> Self {
        let case = Case {
            splits,
            stall: None,
            waits: Arc::from([]),
            ..self.clone()
        }
        .with_waits(&self.waits);
        match self.stall {
            Some(stall) => case.with_stall(stall),
            None => case,
        }
    }

    /// The boundaries that belong to the case rather than to its split pattern: where a
    /// conversation waits, where the pause falls. Narrowing keeps them.
    pub(crate) fn kept_boundaries(&self) -> Vec<usize> {
        let waits = self.waits.iter().map(|w| w.at);
        waits.chain(self.stall.map(|s| s.at())).collect()
    }

    /// How the response is read, when slowly.
    pub fn slow(&self) -> Option<SlowRead> {
        self.slow
    }

    /// The pause in the middle of the delivery, if any.
    pub fn stall(&self) -> Option<Stall> {
        self.stall
    }

    /// True when the delivery pauses mid-message or reads slowly: how long it takes is its
    /// own doing, not the server's.
    pub(crate) fn takes_its_time(&self) -> bool {
        self.stall.is_some() || self.slow.is_some()
    }

    /// What reports add after the chunks: `, pausing 1000 ms after byte 2`, `, read slowly
    /// (2048x19@1ms)`, or nothing.
    pub(crate) fn pause_note(&self) -> String {
        let mut note = self
            .stall
            .map(|s| {
                format!(
                    ", pausing {} ms after byte {}",
                    s.time().as_millis(),
                    s.at()
                )
            })
            .unwrap_or_default();
        if let Some(slow) = self.slow {
            note.push_str(&format!(", read slowly ({slow})"));
        }
        note
    }

    /// The blob's name.
    pub fn blob(&self) -> &str {
        &self.blob
    }

    /// The chunks it is sent in.
    pub fn splits(&self) -> &Splits {
        &self.splits
    }
}

/// How often the rare events of a delivery happen: one in `n`, never when 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chances {
    pub(crate) close: u32,
    pub(crate) fastopen: u32,
    /// A pause mid-message.
    pub(crate) stall: u32,
    /// A slow reader.
    pub(crate) slow: u32,
}

/// How a run draws its cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Drawing {
    pub(crate) seed: Seed,
    pub(crate) mode: SplitMode,
    pub(crate) chances: Chances,
    /// How long a pause mid-message lasts.
    pub(crate) stall_time: Duration,
    /// The cases go over TLS.
    pub(crate) tls: bool,
}

/// A case drawn for the run, with where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Drawn {
    pub(crate) case: Case,
    pub(crate) iteration: u64,
    pub(crate) fastopen: bool,
}

impl Drawn {
    /// `blob` sent whole, in one write: the delivery whose answer the others are compared with.
    pub(crate) fn whole(blob: &Blob, iteration: u64) -> Drawn {
        Drawn {
            case: Case::new(blob.name(), Splits::whole(blob.len())),
            iteration,
            fastopen: false,
        }
    }
}

/// Draws delivery number `iteration` of `blob` from its own stream. Draw order (stable):
/// the fast-open roll, then the split pattern, then the pause roll and its place, then the
/// slow-reader roll and its schedule.
pub(crate) fn draw(blob: &Blob, iteration: u64, drawing: Drawing) -> Drawn {
    let Drawing {
        seed,
        mode,
        chances,
        stall_time,
        tls,
    } = drawing;
    let mut rng = seed.case_rng(blob.name(), iteration);
    let fastopen = chances.fastopen > 0 && rng.random_ratio(1, chances.fastopen);
    let parts: Vec<usize> = blob.waits().iter().map(|w| w.at).collect();
    let shape = split::Shape::conversation(blob.bytes(), &parts);
    let splits = split::generate(mode, shape, iteration, chances.close, &mut rng);
    let stall = (chances.stall > 0 && rng.random_ratio(1, chances.stall))
        .then(|| split::mid_record(shape, splits.total(), &mut rng))
        .flatten()
        .map(|at| Stall::new(at, stall_time));
    let slow = (chances.slow > 0 && rng.random_ratio(1, chances.slow)).then(|| {
        // Pieces from 64 bytes to 16 KiB, up to 128 of them, 1 to 3 ms apart: a few hundred
        // milliseconds at most, and nothing for a response that fits in one read.
        let piece = 64 << rng.random_range(0..=8);
        SlowRead::new(
            piece,
            rng.random_range(8..=128),
            Duration::from_millis(rng.random_range(1..=3)),
        )
    });
    let case = Case::new(blob.name(), splits)
        .with_slow_read(slow)
        .with_waits(blob.waits())
        .over_tls(tls);
    Drawn {
        case: match stall {
            Some(stall) => case.with_stall(stall),
            None => case,
        },
        iteration,
        fastopen: fastopen && !blob.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_adds_its_boundary_and_keeps_it_in_other_chunks() {
        let stall = Stall::new(2, Duration::from_millis(50));
        let case = Case::new("a", "5,5".parse().unwrap()).with_stall(stall);
        assert_eq!(case.splits().chunks(), &[2, 3, 5]);
        let whole = case.resplit(Splits::whole(10));
        assert_eq!(whole.splits().chunks(), &[2, 8]);
        assert_eq!(whole.stall(), Some(stall));
        let past_the_end =
            Case::new("a", "5".parse().unwrap()).with_stall(Stall::new(5, stall.time()));
        assert_eq!(past_the_end.stall(), None);
    }

    #[test]
    fn plans_depend_only_on_seed_blob_and_iteration() {
        let blob = Blob::new("req", vec![b'x'; 300]);
        let drawing = |seed| Drawing {
            seed: Seed::new(seed),
            mode: SplitMode::Mixed,
            chances: Chances {
                close: 500,
                fastopen: 2,
                stall: 3,
                slow: 4,
            },
            stall_time: Duration::from_millis(40),
            tls: false,
        };
        let cases = |seed| -> Vec<Case> {
            (0..50)
                .map(|i| draw(&blob, i, drawing(seed)).case)
                .collect()
        };
        assert_eq!(cases(5), cases(5));
        assert_ne!(cases(5), cases(6));
        let stalls: Vec<Stall> = cases(5).iter().filter_map(Case::stall).collect();
        assert!(
            stalls.len() > 5,
            "about one in three pauses: {}",
            stalls.len()
        );
        let slow = cases(5).iter().filter(|c| c.slow().is_some()).count();
        assert!(slow > 3, "about one in four reads slowly: {slow}");
        for case in cases(5).iter().filter(|c| c.stall().is_some()) {
            let at = case.stall().unwrap().at();
            assert!(case.splits().boundaries().any(|b| b == at), "{case}");
        }
    }
}

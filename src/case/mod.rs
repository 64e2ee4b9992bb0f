//! A case: one blob and the exact chunks it is sent in. Its string form (`v1:ping.txt:3,3`)
//! is what reports print and what replay takes.
//!
//! A case string carries the blob's name and the chunk sizes explicitly, so replaying it
//! needs neither the seed nor the random generator, and still works after blobs are added.
//! A case may also pause mid-message (a [`Stall`], `;stall=AT@MSms` after the sizes) and
//! read its response slowly (a [`SlowRead`], `;slow=PIECExCOUNT@MSms`): both decide what the
//! server sees as much as the chunks do, so the string replays them too.

mod manner;

pub use manner::{SlowRead, Stall};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::RngExt;

use crate::corpus::Blob;
use crate::rng::Seed;
use crate::split::{self, SplitMode, Splits};

const VERSION: &str = "v1";

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
}

impl Case {
    /// The case that sends the blob named `blob` in these chunks.
    pub fn new(blob: impl Into<String>, splits: Splits) -> Self {
        Case {
            blob: blob.into(),
            splits,
            stall: None,
            slow: None,
        }
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

    /// The same blob, pause and reads in other chunks (the pause keeps its place).
    pub(crate) fn resplit(&self, splits: Splits) -> Self {
        let case = Case::new(self.blob.clone(), splits).with_slow_read(self.slow);
        match self.stall {
            Some(stall) => case.with_stall(stall),
            None => case,
        }
    }

    /// How the response is read, when slowly.
    pub fn slow(&self) -> Option<SlowRead> {
        self.slow
    }

    /// The pause in the middle of the delivery, if any.
    pub fn stall(&self) -> Option<Stall> {
        self.stall
    }

    /// What reports add after the chunks: `, pausing 1000 ms after byte 2`, `, read slowly
    /// (2048x19@1ms)`, or nothing.
    pub(crate) fn pause_note(&self) -> String {
        let mut note = self
            .stall
            .map(|s| {
                format!(
                    ", pausing {} ms after byte {}",
                    s.pause().as_millis(),
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

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VERSION}:{}:{}", self.blob, self.splits.compact())?;
        if let Some(stall) = self.stall {
            write!(f, ";stall={stall}")?;
        }
        if let Some(slow) = self.slow {
            write!(f, ";slow={slow}")?;
        }
        Ok(())
    }
}

/// Why a case string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseCaseError {
    input: String,
}

impl fmt::Display for ParseCaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a case: expected the form v1:BLOB:SIZES (with ;stall=AT@MSms for a pause, ;slow=PIECExCOUNT@MSms for slow reads) as printed in a report, such as v1:ping.txt:2,4",
            self.input
        )
    }
}

impl std::error::Error for ParseCaseError {}

impl FromStr for Case {
    type Err = ParseCaseError;

    /// Parses a case string (`v1:BLOB:SIZES`) or a regression-file line
    /// (`v1 kind=... chunks=SIZES blob=BLOB`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseCaseError {
            input: s.to_owned(),
        };
        if let Some(fields) = s.trim().strip_prefix("v1 ") {
            let line = RegressionFields::parse(fields).ok_or_else(err)?;
            let case = Case::new(line.blob, line.chunks.parse().map_err(|_| err())?);
            return with_manner(case, line.stall, line.slow).ok_or_else(err);
        }
        let rest = s
            .trim()
            .strip_prefix(VERSION)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(err)?;
        // Sizes never hold a ':', so the last one ends the blob name (which may hold one).
        let (blob, sizes) = rest.rsplit_once(':').ok_or_else(err)?;
        if blob.is_empty() {
            return Err(err());
        }
        let mut fields = sizes.split(';');
        let splits = fields.next().unwrap_or("").parse().map_err(|_| err())?;
        let (mut stall, mut slow) = (None, None);
        for field in fields {
            match field.split_once('=') {
                Some(("stall", value)) if stall.is_none() => stall = Some(value),
                Some(("slow", value)) if slow.is_none() => slow = Some(value),
                _ => return Err(err()),
            }
        }
        with_manner(Case::new(blob, splits), stall, slow).ok_or_else(err)
    }
}

/// `case` with the pause (`AT@MSms`) and the slow reads (`PIECExCOUNT@MSms`) its fields
/// describe, if any; `None` when a field does not parse or the pause does not fall inside
/// what the case sends.
fn with_manner(case: Case, stall: Option<&str>, slow: Option<&str>) -> Option<Case> {
    let slow = match slow {
        Some(field) => Some(field.parse().ok()?),
        None => None,
    };
    let case = case.with_slow_read(slow);
    let Some(field) = stall else {
        return Some(case);
    };
    let case = case.with_stall(field.parse().ok()?);
    case.stall.is_some().then_some(case)
}

/// The fields of a regression-file line after its `v1 `: `key=value` pairs separated by
/// spaces, `blob=` last (it takes the rest of the line, so a name may hold spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegressionFields<'a> {
    pub(crate) blob: &'a str,
    pub(crate) chunks: &'a str,
    pub(crate) fnv64: Option<u64>,
    pub(crate) stall: Option<&'a str>,
    pub(crate) slow: Option<&'a str>,
}

impl<'a> RegressionFields<'a> {
    pub(crate) fn parse(fields: &'a str) -> Option<Self> {
        let (head, blob) = fields.split_once("blob=")?;
        let blob = blob.trim();
        let mut chunks = None;
        let mut fnv64 = None;
        let mut stall = None;
        let mut slow = None;
        for pair in head.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            match key {
                "chunks" => chunks = Some(value),
                "fnv64" => fnv64 = u64::from_str_radix(value, 16).ok(),
                "stall" => stall = Some(value),
                "slow" => slow = Some(value),
                _ => {}
            }
        }
        (!blob.is_empty()).then_some(())?;
        Some(RegressionFields {
            blob,
            chunks: chunks?,
            fnv64,
            stall,
            slow,
        })
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
}

/// A case drawn for the run, with where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) case: Case,
    pub(crate) iteration: u64,
    pub(crate) fastopen: bool,
}

/// Draws delivery number `iteration` of `blob` from its own stream. Draw order (stable):
/// the fast-open roll, then the split pattern, then the pause roll and its place, then the
/// slow-reader roll and its schedule.
pub(crate) fn plan(blob: &Blob, iteration: u64, drawing: Drawing) -> Planned {
    let Drawing {
        seed,
        mode,
        chances,
        stall_time,
    } = drawing;
    let mut rng = seed.case_rng(blob.name(), iteration);
    let fastopen = chances.fastopen > 0 && rng.random_ratio(1, chances.fastopen);
    let splits = split::generate(mode, blob.bytes(), iteration, chances.close, &mut rng);
    let stall = (chances.stall > 0 && rng.random_ratio(1, chances.stall))
        .then(|| split::mid_record(blob.bytes(), splits.total(), &mut rng))
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
    let case = Case::new(blob.name(), splits).with_slow_read(slow);
    Planned {
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
    fn case_strings_round_trip_even_with_colons_in_names() {
        for text in [
            "v1:a:1",
            "v1:odd:name.bin:3,1,19",
            "v1:empty:-",
            "v1:a;b:3,1,19;stall=3@1500ms",
            "v1:a:3,1,19;slow=512x64@2ms",
            "v1:a:3,1,19;stall=3@1500ms;slow=64x8@1ms",
        ] {
            let case: Case = text.parse().unwrap();
            assert_eq!(case.to_string(), text);
        }
        let case: Case = "v1:odd:name.bin:3,1,19".parse().unwrap();
        assert_eq!(case.blob(), "odd:name.bin");
    }

    #[test]
    fn regression_lines_parse_as_cases() {
        let line = "v1 kind=server-died seed=42 fnv64=00000000000000ff chunks=5,1 blob=ping with space.txt";
        let case: Case = line.parse().unwrap();
        assert_eq!(case.to_string(), "v1:ping with space.txt:5,1");
        let fields = RegressionFields::parse(&line[3..]).unwrap();
        assert_eq!(fields.fnv64, Some(255));
        assert!("v1 kind=x chunks=5,1".parse::<Case>().is_err(), "no blob");
        assert!("v1 kind=x blob=a".parse::<Case>().is_err(), "no chunks");
        let line = "v1 kind=server-stopped-serving stall=2@900ms chunks=5,1 blob=a";
        let case: Case = line.parse().unwrap();
        assert_eq!(case.to_string(), "v1:a:2,3,1;stall=2@900ms");
        let line = "v1 kind=response-differs slow=256x16@2ms chunks=5,1 blob=a";
        let case: Case = line.parse().unwrap();
        assert_eq!(case.to_string(), "v1:a:5,1;slow=256x16@2ms");
    }

    #[test]
    fn a_stall_adds_its_boundary_and_keeps_it_in_other_chunks() {
        let stall = Stall::new(2, Duration::from_millis(50));
        let case = Case::new("a", "5,5".parse().unwrap()).with_stall(stall);
        assert_eq!(case.splits().chunks(), &[2, 3, 5]);
        let whole = case.resplit(Splits::whole(10));
        assert_eq!(whole.splits().chunks(), &[2, 8]);
        assert_eq!(whole.stall(), Some(stall));
        let past_the_end =
            Case::new("a", "5".parse().unwrap()).with_stall(Stall::new(5, stall.pause()));
        assert_eq!(past_the_end.stall(), None);
    }

    #[test]
    fn malformed_case_strings_are_rejected() {
        for text in [
            "",
            "v2:a:1",
            "v1:a",
            "v1::1",
            "v1:a:0",
            "v1:a:x",
            "v1:a:3,1;stall=4@10ms",
            "v1:a:3,1;stall=0@10ms",
            "v1:a:3,1;stall=2@0ms",
            "v1:a:3,1;pause=2@10ms",
            "v1:a:3,1;slow=0x8@1ms",
            "v1:a:3,1;slow=64x8",
            "v1:a:3,1;slow=64x8@1ms;slow=64x8@1ms",
        ] {
            assert!(text.parse::<Case>().is_err(), "{text:?}");
        }
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
        };
        let cases = |seed| -> Vec<Case> {
            (0..50)
                .map(|i| plan(&blob, i, drawing(seed)).case)
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

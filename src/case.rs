//! A case: one blob and the exact chunks it is sent in. Its string form (`v1:ping.txt:3,3`)
//! is what reports print and what replay takes.
//!
//! A case string carries the blob's name and the chunk sizes explicitly, so replaying it
//! needs neither the seed nor the random generator, and still works after blobs are added.
//! A case may also pause mid-message (a [`Stall`], written `;stall=AT@MSms` after the
//! sizes): the one thing about a delivery besides its chunks that decides what the server
//! sees, so the string replays it too.

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
}

/// A pause in the middle of a delivery: after the first `at` bytes, the connection waits
/// `pause` before it sends the rest, while a probe connection checks that the server still
/// serves other clients.
///
/// ```
/// use std::time::Duration;
/// use stutterfuzz::Case;
///
/// let case: Case = "v1:set-get.txt:3,1,19;stall=4@1000ms".parse()?;
/// let stall = case.stall().unwrap();
/// assert_eq!((stall.at(), stall.pause()), (4, Duration::from_secs(1)));
/// # Ok::<(), stutterfuzz::ParseCaseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stall {
    at: usize,
    pause: Duration,
}

impl Stall {
    /// A pause of `pause` after the first `at` bytes.
    pub fn new(at: usize, pause: Duration) -> Self {
        Stall { at, pause }
    }

    /// How many bytes go out before the pause.
    pub fn at(&self) -> usize {
        self.at
    }

    /// How long the connection pauses.
    pub fn pause(&self) -> Duration {
        self.pause
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}ms", self.at, self.pause.as_millis())
    }
}

impl FromStr for Stall {
    type Err = ();

    /// Parses `AT@MSms`, as in a case string's `;stall=` field.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (at, ms) = s.split_once('@').ok_or(())?;
        let ms = ms.strip_suffix("ms").ok_or(())?;
        let at = at.parse().map_err(|_| ())?;
        let ms: u64 = ms.parse().map_err(|_| ())?;
        (at > 0 && ms > 0)
            .then(|| Stall::new(at, Duration::from_millis(ms)))
            .ok_or(())
    }
}

impl Case {
    /// The case that sends the blob named `blob` in these chunks.
    pub fn new(blob: impl Into<String>, splits: Splits) -> Self {
        Case {
            blob: blob.into(),
            splits,
            stall: None,
        }
    }

    /// The same case, pausing as `stall` says; a boundary is added where the pause falls, if
    /// there is none. A pause at or after the last byte sent is dropped: there is nothing
    /// after it to wait for.
    pub fn with_stall(mut self, stall: Stall) -> Self {
        if stall.at > 0 && stall.at < self.splits.total() {
            self.splits = self.splits.with_boundary(stall.at);
            self.stall = Some(stall);
        } else {
            self.stall = None;
        }
        self
    }

    /// The same blob and pause in other chunks (the pause keeps its place).
    pub(crate) fn resplit(&self, splits: Splits) -> Self {
        let case = Case::new(self.blob.clone(), splits);
        match self.stall {
            Some(stall) => case.with_stall(stall),
            None => case,
        }
    }

    /// The pause in the middle of the delivery, if any.
    pub fn stall(&self) -> Option<Stall> {
        self.stall
    }

    /// What reports add after the chunks: `, pausing 1000 ms after byte 2`, or nothing.
    pub(crate) fn pause_note(&self) -> String {
        self.stall
            .map(|s| format!(", pausing {} ms after byte {}", s.pause.as_millis(), s.at))
            .unwrap_or_default()
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
            "{:?} is not a case: expected the form v1:BLOB:SIZES (with ;stall=AT@MSms for a pause) as printed in a report, such as v1:ping.txt:2,4",
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
            return stalled(case, line.stall).ok_or_else(err);
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
        let (sizes, stall) = match sizes.split_once(';') {
            Some((sizes, field)) => (sizes, Some(field.strip_prefix("stall=").ok_or_else(err)?)),
            None => (sizes, None),
        };
        let splits = sizes.parse().map_err(|_| err())?;
        stalled(Case::new(blob, splits), stall).ok_or_else(err)
    }
}

/// `case` with the pause `field` (`AT@MSms`) describes, if any; `None` when the field does
/// not parse or the pause does not fall inside what the case sends.
fn stalled(case: Case, field: Option<&str>) -> Option<Case> {
    let Some(field) = field else {
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
}

impl<'a> RegressionFields<'a> {
    pub(crate) fn parse(fields: &'a str) -> Option<Self> {
        let (head, blob) = fields.split_once("blob=")?;
        let blob = blob.trim();
        let mut chunks = None;
        let mut fnv64 = None;
        let mut stall = None;
        for pair in head.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            match key {
                "chunks" => chunks = Some(value),
                "fnv64" => fnv64 = u64::from_str_radix(value, 16).ok(),
                "stall" => stall = Some(value),
                _ => {}
            }
        }
        (!blob.is_empty()).then_some(())?;
        Some(RegressionFields {
            blob,
            chunks: chunks?,
            fnv64,
            stall,
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
/// the fast-open roll, then the split pattern, then the pause roll and its place.
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
    let case = Case::new(blob.name(), splits);
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
        for case in cases(5).iter().filter(|c| c.stall().is_some()) {
            let at = case.stall().unwrap().at();
            assert!(case.splits().boundaries().any(|b| b == at), "{case}");
        }
    }
}

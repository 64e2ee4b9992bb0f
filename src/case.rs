//! A case: one blob and the exact chunks it is sent in. Its string form (`v1:ping.txt:3,3`)
//! is what reports print and what replay takes.
//!
//! A case string carries the blob's name and the chunk sizes explicitly, so replaying it
//! needs neither the seed nor the random generator, and still works after blobs are added.

use std::fmt;
use std::str::FromStr;

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
}

impl Case {
    /// The case that sends the blob named `blob` in these chunks.
    pub fn new(blob: impl Into<String>, splits: Splits) -> Self {
        Case {
            blob: blob.into(),
            splits,
        }
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
        write!(f, "{VERSION}:{}:{}", self.blob, self.splits.compact())
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
            "{:?} is not a case: expected the form v1:BLOB:SIZES as printed in a report, such as v1:ping.txt:2,4",
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
            return Ok(Case::new(
                line.blob,
                line.chunks.parse().map_err(|_| err())?,
            ));
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
        let splits = sizes.parse().map_err(|_| err())?;
        Ok(Case::new(blob, splits))
    }
}

/// The fields of a regression-file line after its `v1 `: `key=value` pairs separated by
/// spaces, `blob=` last (it takes the rest of the line, so a name may hold spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegressionFields<'a> {
    pub(crate) blob: &'a str,
    pub(crate) chunks: &'a str,
    pub(crate) fnv64: Option<u64>,
}

impl<'a> RegressionFields<'a> {
    pub(crate) fn parse(fields: &'a str) -> Option<Self> {
        let (head, blob) = fields.split_once("blob=")?;
        let blob = blob.trim();
        let mut chunks = None;
        let mut fnv64 = None;
        for pair in head.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            match key {
                "chunks" => chunks = Some(value),
                "fnv64" => fnv64 = u64::from_str_radix(value, 16).ok(),
                _ => {}
            }
        }
        (!blob.is_empty()).then_some(())?;
        Some(RegressionFields {
            blob,
            chunks: chunks?,
            fnv64,
        })
    }
}

/// How often the rare events of a delivery happen: one in `n`, never when 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chances {
    pub(crate) close: u32,
    pub(crate) fastopen: u32,
}

/// How a run draws its cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Drawing {
    pub(crate) seed: Seed,
    pub(crate) mode: SplitMode,
    pub(crate) chances: Chances,
}

/// A case drawn for the run, with where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) case: Case,
    pub(crate) iteration: u64,
    pub(crate) fastopen: bool,
}

/// Draws delivery number `iteration` of `blob` from its own stream. Draw order (stable):
/// the fast-open roll, then the split pattern.
pub(crate) fn plan(blob: &Blob, iteration: u64, drawing: Drawing) -> Planned {
    let Drawing {
        seed,
        mode,
        chances,
    } = drawing;
    let mut rng = seed.case_rng(blob.name(), iteration);
    let fastopen = chances.fastopen > 0 && rng.random_ratio(1, chances.fastopen);
    let splits = split::generate(mode, blob.bytes(), iteration, chances.close, &mut rng);
    Planned {
        case: Case::new(blob.name(), splits),
        iteration,
        fastopen: fastopen && !blob.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_strings_round_trip_even_with_colons_in_names() {
        for text in ["v1:a:1", "v1:odd:name.bin:3,1,19", "v1:empty:-"] {
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
    }

    #[test]
    fn malformed_case_strings_are_rejected() {
        for text in ["", "v2:a:1", "v1:a", "v1::1", "v1:a:0", "v1:a:x"] {
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
            },
        };
        let cases = |seed| -> Vec<Case> {
            (0..50)
                .map(|i| plan(&blob, i, drawing(seed)).case)
                .collect()
        };
        assert_eq!(cases(5), cases(5));
        assert_ne!(cases(5), cases(6));
    }
}

//! The text forms of a case: the case string (`v1:ping.txt:3,3`, `v2:...;waits=...;tls`)
//! that reports print and replay takes, and the fields of a regression-file line. Both are
//! read here and written here, so they cannot drift apart.

use std::fmt;
use std::str::FromStr;

use super::{Case, waits};

/// The version of strings that carry neither waits nor TLS.
const V1: &str = "v1";
/// The version of strings that carry waits or TLS.
const V2: &str = "v2";

impl Case {
    /// `v1`, unless the case says what only `v2` can (waits or TLS).
    pub(super) fn version(&self) -> &'static str {
        if self.waits.is_empty() && !self.tls {
            V1
        } else {
            V2
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.version(),
            self.blob,
            self.splits.compact()
        )?;
        if let Some(stall) = self.stall {
            write!(f, ";stall={stall}")?;
        }
        if let Some(slow) = self.slow {
            write!(f, ";slow={slow}")?;
        }
        if !self.waits.is_empty() {
            write!(f, ";waits={}", waits::format(&self.waits))?;
        }
        if self.tls {
            write!(f, ";tls")?;
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
            "{:?} is not a case: expected the form v1:BLOB:SIZES or v2:BLOB:SIZES (with ;stall=AT@MSms for a pause, ;slow=PIECExCOUNT@MSms for slow reads, ;waits=bytes=N@AT,... for a conversation, ;tls) as printed in a report, such as v1:ping.txt:2,4{}",
            self.input,
            if super::is_client_case(&self.input) {
                " (a c1: case cuts a client's answers: replay it with StutterClient or `stutterfuzz client --replay`)"
            } else {
                ""
            }
        )
    }
}

impl std::error::Error for ParseCaseError {}

impl FromStr for Case {
    type Err = ParseCaseError;

    /// Parses a case string (`v1:BLOB:SIZES`, `v2:...`) or a regression-file line
    /// (`v1 kind=... chunks=SIZES blob=BLOB`, `v2 ...`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseCaseError {
            input: s.to_owned(),
        };
        let s = s.trim();
        if let Some(fields) = s.strip_prefix("v1 ").or_else(|| s.strip_prefix("v2 ")) {
            let line = RegressionFields::parse(fields).ok_or_else(err)?;
            let case = Case::new(line.blob, line.chunks.parse().map_err(|_| err())?);
            return line.manner.apply(case).ok_or_else(err);
        }
        let rest = [V1, V2]
            .iter()
            .find_map(|v| s.strip_prefix(v)?.strip_prefix(':'))
            .ok_or_else(err)?;
        // Sizes never hold a ':', so the last one ends the blob name (which may hold one).
        let (blob, sizes) = rest.rsplit_once(':').ok_or_else(err)?;
        if blob.is_empty() {
            return Err(err());
        }
        let mut fields = sizes.split(';');
        let splits = fields.next().unwrap_or("").parse().map_err(|_| err())?;
        let mut manner = Manner::default();
        for field in fields {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            if !manner.take(key, value) {
                return Err(err());
            }
        }
        manner.apply(Case::new(blob, splits)).ok_or_else(err)
    }
}

/// What a case string or regression line says besides the blob and its chunks, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manner<'a> {
    stall: Option<&'a str>,
    slow: Option<&'a str>,
    waits: Option<&'a str>,
    tls: bool,
}

impl<'a> Manner<'a> {
    /// Takes one `key=value` field (`tls` has no value); false for an unknown or repeated key.
    fn take(&mut self, key: &str, value: &'a str) -> bool {
        let slot = match key {
            "stall" => &mut self.stall,
            "slow" => &mut self.slow,
            "waits" => &mut self.waits,
            "tls" if !self.tls && matches!(value, "" | "yes") => {
                self.tls = true;
                return true;
            }
            _ => return false,
        };
        if slot.is_some() || value.is_empty() {
            return false;
        }
        *slot = Some(value);
        true
    }

    /// `case` as these fields describe it; `None` when a field does not parse or the pause
    /// does not fall inside what the case sends.
    fn apply(&self, case: Case) -> Option<Case> {
        let slow = match self.slow {
            Some(field) => Some(field.parse().ok()?),
            None => None,
        };
        let waits = match self.waits {
            Some(field) => waits::parse(field)?,
            None => Vec::new(),
        };
        let case = case
            .with_slow_read(slow)
            .with_waits(&waits)
            .over_tls(self.tls);
        let Some(field) = self.stall else {
            return Some(case);
        };
        let case = case.with_stall(field.parse().ok()?);
        case.stall.is_some().then_some(case)
    }
}

/// The fields of a regression-file line after its `v1 ` or `v2 `: `key=value` pairs
/// separated by spaces, `blob=` last (it takes the rest of the line, so a name may hold
/// spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegressionFields<'a> {
    pub(crate) blob: &'a str,
    pub(crate) chunks: &'a str,
    pub(crate) fnv64: Option<u64>,
    pub(crate) manner: Manner<'a>,
}

impl<'a> RegressionFields<'a> {
    pub(crate) fn parse(fields: &'a str) -> Option<Self> {
        let (head, blob) = fields.split_once("blob=")?;
        let blob = blob.trim();
        let mut chunks = None;
        let mut fnv64 = None;
        let mut manner = Manner::default();
        for pair in head.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            match key {
                "chunks" => chunks = Some(value),
                "fnv64" => fnv64 = u64::from_str_radix(value, 16).ok(),
                "stall" | "slow" | "waits" | "tls" => {
                    manner.take(key, value).then_some(())?;
                }
                _ => {}
            }
        }
        (!blob.is_empty()).then_some(())?;
        Some(RegressionFields {
            blob,
            chunks: chunks?,
            fnv64,
            manner,
        })
    }
}

/// The fields a regression line writes for `case` besides its kind, seed, hash, chunks and
/// blob, each with a leading space (` stall=2@900ms waits=bytes=11@0 tls=yes`), and the
/// line's version.
pub(crate) fn regression_fields(case: &Case) -> (&'static str, String) {
    let mut fields = String::new();
    if let Some(stall) = case.stall {
        fields.push_str(&format!(" stall={stall}"));
    }
    if let Some(slow) = case.slow {
        fields.push_str(&format!(" slow={slow}"));
    }
    if !case.waits.is_empty() {
        fields.push_str(&format!(" waits={}", waits::format(&case.waits)));
    }
    if case.tls {
        fields.push_str(" tls=yes");
    }
    (case.version(), fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::WaitPoint;
    use crate::split::Splits;

    #[test]
    fn case_strings_round_trip_even_with_colons_in_names() {
        for text in [
            "v1:a:1",
            "v1:odd:name.bin:3,1,19",
            "v1:empty:-",
            "v1:a;b:3,1,19;stall=3@1500ms",
            "v1:a:3,1,19;slow=512x64@2ms",
            "v1:a:3,1,19;stall=3@1500ms;slow=64x8@1ms",
            "v2:a:3,1,19;tls",
            "v2:greet:4,2;waits=bytes=11@0,pattern=250%20OK@4",
            "v2:greet:4,2;waits=quiet=5ms@6",
            "v2:greet:2,2,2;stall=2@900ms;waits=quiet=50ms@4;tls",
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
    fn only_waits_or_tls_make_a_case_v2_and_both_versions_read() {
        let case = Case::new("a", "3,1".parse().unwrap());
        assert_eq!(case.to_string(), "v1:a:3,1");
        assert_eq!("v2:a:3,1".parse::<Case>().unwrap(), case);
        let tls = case.clone().over_tls(true);
        assert_eq!(tls.to_string(), "v2:a:3,1;tls");
        let waits = [WaitPoint {
            at: 2,
            until: crate::corpus::WaitFor::Bytes(5),
        }];
        let talk = case.with_waits(&waits);
        assert_eq!(
            talk.to_string(),
            "v2:a:2,1,1;waits=bytes=5@2",
            "a wait is a boundary"
        );
        let resplit = talk.resplit(Splits::whole(4));
        assert_eq!(resplit.waits(), &waits, "narrowing keeps the waits");
        assert_eq!(resplit.splits().chunks(), &[2, 2]);
        assert!(tls.resplit(Splits::whole(4)).is_tls(), "and the transport");
        let line = "v2 kind=no-response seed=1 fnv64=00000000000000ff waits=bytes=5@2 tls=yes chunks=2,1,1 blob=a";
        let parsed: Case = line.parse().unwrap();
        assert_eq!(parsed.to_string(), "v2:a:2,1,1;waits=bytes=5@2;tls");
        assert_eq!(
            regression_fields(&parsed),
            ("v2", " waits=bytes=5@2 tls=yes".to_owned())
        );
    }

    #[test]
    fn malformed_case_strings_are_rejected() {
        for text in [
            "",
            "v3:a:1",
            "v2:a:3,1;waits=bytes=2",
            "v2:a:3,1;tls;tls",
            "v2:a:3,1;tls=no",
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
}

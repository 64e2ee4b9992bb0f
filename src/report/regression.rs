//! Regression files: one readable, versioned line per finding, next to the test that found
//! it, replayed first on every later run of that test. They are meant to be committed, so a
//! fixed bug stays fixed.
//!
//! ```text
//! # 2026-11-24T17:30:00Z survives_any_packet_split: the server was killed by SIGABRT while being fuzzed
//! v1 kind=server-died seed=42 fnv64=8a3f0c5e1b2d4f60 chunks=5,1 blob=ping.txt
//! ```
//! `fnv64` is the FNV-1a hash of the blob's bytes, so a changed blob can be told apart.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::case::{Case, RegressionFields, regression_fields};
use crate::corpus::Blob;
use crate::oracle::FindingKind;
use crate::rng::{Seed, fnv1a};

/// A short name for a finding kind, as regression lines write it.
pub(crate) fn kind_slug(kind: &FindingKind) -> &'static str {
    match kind {
        FindingKind::ServerDied { .. } => "server-died",
        FindingKind::ServerTaskEnded { .. } => "server-task-ended",
        FindingKind::ConnectRefused { .. } => "connect-refused",
        FindingKind::ConnectTimeout { .. } => "connect-timeout",
        FindingKind::ServerStoppedReading { .. } => "stopped-reading",
        FindingKind::ResponseDiffers { .. } => "response-differs",
        FindingKind::ProtocolFailure { .. } => "protocol-failure",
        FindingKind::NoResponse { .. } => "no-response",
        FindingKind::CheckFailed { .. } => "check-failed",
        FindingKind::OutputMatched { .. } => "output-matched",
        FindingKind::StoppedServingOthers { .. } => "stopped-serving-others",
    }
}

/// The line for `case` of `blob`.
pub(crate) fn line(case: &Case, blob: &Blob, kind: &FindingKind, seed: Seed) -> String {
    let (version, fields) = regression_fields(case);
    format!(
        "{version} kind={} seed={seed} fnv64={:016x}{fields} chunks={} blob={}",
        kind_slug(kind),
        fnv1a(blob.bytes()),
        case.splits().compact(),
        case.blob()
    )
}

/// `<dir>/stutterfuzz-regressions/<test name>.txt`, the test name made safe for a file name.
pub(crate) fn default_path(dir: &Path, test: &str) -> PathBuf {
    let name: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    dir.join("stutterfuzz-regressions")
        .join(format!("{name}.txt"))
}

/// A recorded case and the hash of the blob it was recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) case: Case,
    pub(crate) fnv64: Option<u64>,
}

impl Entry {
    /// True when `blob` is the one the case was recorded with (or no hash was kept).
    pub(crate) fn fits(&self, blob: &Blob) -> bool {
        self.fnv64.is_none_or(|h| h == fnv1a(blob.bytes()))
            && self.case.splits().total() <= blob.len()
    }
}

/// The cases of a regression file; comments and blank lines are skipped. A missing file has
/// none; a line that is not a regression line is an error naming it (`line N: ...`), since
/// a case silently dropped would be a fixed bug no longer checked.
pub(crate) fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = line
            .strip_prefix("v1 ")
            .or_else(|| line.strip_prefix("v2 "))
            .and_then(|fields| {
                Some(Entry {
                    case: line.parse().ok()?,
                    fnv64: RegressionFields::parse(fields)?.fnv64,
                })
            });
        match entry {
            Some(entry) => entries.push(entry),
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {}: {line:?} is not a regression line (expected \
                         `v1 kind=... seed=... fnv64=... chunks=3,1,19 blob=NAME`, or a `#` \
                         comment); fix or delete it",
                        number + 1
                    ),
                ));
            }
        }
    }
    Ok(entries)
}

/// Appends a comment and the lines to the file (creating it and its directory), and syncs
/// it to disk before returning.
pub(crate) fn append(path: &Path, comment: &str, lines: &[String]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = format!("# {comment}\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path(), "tests::survives split");
        assert!(path.ends_with("stutterfuzz-regressions/tests--survives-split.txt"));
        assert!(
            read(&path).unwrap().is_empty(),
            "a missing file has no cases"
        );

        let blob = Blob::new("ping.txt", "PING\r\n");
        let case: Case = "v1:ping.txt:5,1".parse().unwrap();
        let kind = FindingKind::ConnectTimeout {
            after: std::time::Duration::from_secs(1),
            alone: false,
        };
        let text = line(&case, &blob, &kind, Seed::new(42));
        assert!(
            text.starts_with("v1 kind=connect-timeout seed=42 fnv64="),
            "{text}"
        );
        assert!(text.ends_with(" chunks=5,1 blob=ping.txt"), "{text}");
        append(&path, "first finding", std::slice::from_ref(&text)).unwrap();
        append(&path, "second finding", &[text]).unwrap();

        let recorded = read(&path).unwrap();
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[0].case, case);
        assert!(recorded[0].fits(&blob));
        assert!(
            !recorded[0].fits(&Blob::new("ping.txt", "PONG\r\n")),
            "a changed blob"
        );
        let file = fs::read_to_string(&path).unwrap();
        assert!(file.starts_with("# first finding\nv1 "), "{file}");

        // A pause and a slow reader are part of the case, and of its line.
        let case: Case = "v1:ping.txt:2,3,1;stall=2@500ms;slow=64x8@2ms"
            .parse()
            .unwrap();
        let text = line(&case, &blob, &kind, Seed::new(42));
        assert!(
            text.contains(" stall=2@500ms slow=64x8@2ms chunks=2,3,1 "),
            "{text}"
        );
        assert_eq!(text.parse::<Case>().unwrap(), case);

        // Read back from the file, whole: a conversation's waits and TLS too (a `v2` line).
        let case: Case = "v2:ping.txt:2,3,1;stall=2@500ms;waits=pattern=%2B@2;tls"
            .parse()
            .unwrap();
        let text = line(&case, &blob, &kind, Seed::new(42));
        assert!(text.starts_with("v2 kind="), "{text}");
        append(&path, "third finding", &[text]).unwrap();
        let recorded = read(&path).unwrap();
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded[2].case, case);
    }

    #[test]
    fn files_of_several_machines_merge_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let blob = Blob::new("ping.txt", "PING\r\n");
        let kind = FindingKind::ConnectTimeout {
            after: std::time::Duration::from_secs(1),
            alone: false,
        };
        let line_of = |text: &str| {
            let case: Case = text.parse().unwrap();
            line(&case, &blob, &kind, Seed::new(1))
        };
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        append(
            &a,
            "machine a",
            &[line_of("v1:ping.txt:1,5"), line_of("v1:ping.txt:2,4")],
        )
        .unwrap();
        append(
            &b,
            "machine b",
            &[line_of("v1:ping.txt:2,4"), line_of("v1:ping.txt:3,3")],
        )
        .unwrap();
        // Concatenated, duplicate lines dropped in order (`awk '!seen[$0]++'`).
        let joined = [
            fs::read_to_string(&a).unwrap(),
            fs::read_to_string(&b).unwrap(),
        ]
        .concat();
        let mut seen = std::collections::HashSet::new();
        let merged: String = joined
            .lines()
            .filter(|l| seen.insert(*l))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join("merged.txt");
        fs::write(&path, merged).unwrap();
        let cases: Vec<String> = read(&path)
            .unwrap()
            .iter()
            .map(|e| e.case.to_string())
            .collect();
        assert_eq!(
            cases,
            ["v1:ping.txt:1,5", "v1:ping.txt:2,4", "v1:ping.txt:3,3"]
        );
    }

    #[test]
    fn a_corrupt_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regressions.txt");
        fs::write(
            &path,
            "# a finding\nv1 kind=server-died seed=1 chunks=2,4 blob=ping.txt\n\nv1 chunks=two blob=x\n",
        )
        .unwrap();
        let err = read(&path).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let text = err.to_string();
        assert!(text.starts_with("line 4: "), "{text}");
        assert!(text.contains("v1 chunks=two blob=x"), "{text}");
    }
}

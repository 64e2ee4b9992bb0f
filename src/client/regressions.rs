//! A client test's regression file: its recorded cases (`c1:` lines) are run first on every
//! later run, and a new finding's narrowed case is appended, so a fixed client bug stays
//! fixed. The same file rules as a server test's: by default
//! `stutterfuzz-regressions/<test name>-client.txt` in the crate being tested, only shown in
//! the report under `CI` unless `STUTTERFUZZ_SAVE_REGRESSIONS` is set; a file named with
//! `regression_file` is always written.

use std::path::Path;

use super::case::ClientCase;

use crate::error::{SetupError, SetupErrorKind};
use crate::report::regression;

pub(crate) use crate::run::{RegressionFile, Regressions};

impl Regressions {
    /// The client's file of a run called from thread `caller`: the server's rules, with
    /// `-client` after the test's name.
    pub(crate) fn client_file(&self, caller: Option<&str>) -> Option<RegressionFile> {
        self.file(caller, "-client")
    }
}

/// The cases recorded in `path` (none when it does not exist yet).
pub(crate) fn recorded(path: &Path) -> Result<Vec<ClientCase>, SetupError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SetupError::new(
                SetupErrorKind::Replay,
                format!("cannot read regression file {}: {e}", path.display()),
            ));
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| crate::case::is_client_case(line))
        .map(|(i, line)| {
            line.parse::<ClientCase>().map_err(|e| {
                SetupError::new(
                    SetupErrorKind::Replay,
                    format!(
                        "regression file {} line {}: {e}; fix or remove the line",
                        path.display(),
                        i + 1
                    ),
                )
            })
        })
        .collect()
}

/// Appends `case` with a comment saying what it found.
pub(crate) fn record(path: &Path, case: &ClientCase, headline: &str) -> std::io::Result<()> {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    regression::append(path, &format!("{stamp} {headline}"), &[case.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_cases_read_back_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/t.txt");
        assert!(recorded(&path).unwrap().is_empty());
        let case: ClientCase = "c1:upstream:1,5".parse().unwrap();
        record(&path, &case, "the client exited with status 1").unwrap();
        assert_eq!(recorded(&path).unwrap(), [case]);
        std::fs::write(&path, "# note\nc1:upstream:x\n").unwrap();
        let err = recorded(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}

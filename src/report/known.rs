//! Known findings: the file a run that keeps going reads the signatures it must not report
//! again from ([`Stutter::known`](crate::Stutter::known),
//! [`StutterClient::known`](crate::StutterClient::known)), one a line, as failure files'
//! `# signature:` lines show them, so such a line may be copied as it is.

use std::path::Path;

use crate::error::{SetupError, SetupErrorKind};

/// The line prefix a failure file gives a signature.
pub(crate) const SIGNATURE_LINE: &str = "# signature: ";

/// The note a run that met `met` findings of its known-findings file ends with.
pub(crate) fn note(met: u64) -> Option<String> {
    (met > 0)
        .then(|| format!("{met} finding(s) matched the known-findings file: counted, not reported"))
}

/// The signatures of a known-findings file: one a line (a failure file's `# signature:`
/// lines may be copied as they are); blank lines and other `#` lines are left out.
pub(crate) fn read(path: &Path) -> Result<Vec<String>, SetupError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SetupError::new(
            SetupErrorKind::Settings,
            format!(
                "cannot read the known-findings file {}: {e}; give a file with one signature a line, as failure files' `# signature:` lines show them",
                path.display()
            ),
        )
    })?;
    Ok(text
        .lines()
        .map(|line| line.strip_prefix(SIGNATURE_LINE).unwrap_or(line).trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_findings_file_takes_signatures_bare_or_as_failure_files_show_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known.txt");
        std::fs::write(
            &path,
            "# known bugs\n\n# signature: was killed by SIGABRT\nanswer differs in ECHO ...\n",
        )
        .unwrap();
        assert_eq!(
            read(&path).unwrap(),
            ["was killed by SIGABRT", "answer differs in ECHO ..."]
        );
        let missing = read(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("cannot read the known-findings file")
        );
    }
}

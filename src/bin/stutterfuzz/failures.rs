//! Failure files: every finding is written to `--failures-dir` before the process exits,
//! flushed and synced, so nothing is lost when a terminal scrolls or a CI log is cut.
//!
//! A file starts with `#` comment lines (the headline, the finding's signature, how to
//! replay it), then one `case v1:...` line per case (the minimal case first, then each
//! suspect: what `--replay FILE` reads), then the full report.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use stutterfuzz::{Case, Finding};

/// The header line of a finding that no case alone shows, with the command that runs the
/// same run again.
const WHOLE_RUN: &str = "# whole run: ";

/// Writes the finding to a new file in `dir` (created if needed) and returns its path.
/// `whole_run` is the command that runs the same run again, for a finding that no case alone
/// shows.
pub(crate) fn save(
    dir: &Path,
    finding: &Finding,
    replay_hint: &str,
    whole_run: Option<&str>,
) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let now = SystemTime::now();
    let mut text = String::new();
    text.push_str(&format!(
        "# stutterfuzz finding, {}\n# {}\n# signature: {}\n# replay: {replay_hint}\n",
        humantime::format_rfc3339_seconds(now),
        finding.kind().headline(),
        finding.signature()
    ));
    if let Some(again) = whole_run {
        text.push_str(&format!("{WHOLE_RUN}{again}\n"));
    }
    // The minimal case first (what the report's replay line replays), then every suspect.
    let mut cases: Vec<&Case> = finding.best_case().into_iter().collect();
    for suspect in finding.suspects() {
        if !cases.contains(&suspect.case()) {
            cases.push(suspect.case());
        }
    }
    for case in cases {
        text.push_str(&format!("case {case}\n"));
    }
    text.push('\n');
    text.push_str(&finding.to_string());
    text.push('\n');

    let stamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    let mut n = 0;
    let path = loop {
        let candidate = dir.join(format!("finding-{stamp}-{}-{n}.txt", std::process::id()));
        match file.persist_noclobber(&candidate) {
            Ok(_) => break candidate,
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                file = e.file;
                n += 1;
            }
            Err(e) => return Err(e.error),
        }
    };
    // The rename is durable only once the directory is synced too.
    fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

/// The cases to replay from `--replay ARG`: a failure file's `case` lines, or one case
/// string; and, for a finding no case alone shows, the command that runs the same run again.
pub(crate) fn cases_to_replay(arg: &str) -> Result<(Vec<Case>, Option<String>), String> {
    let path = Path::new(arg);
    if !path.is_file() {
        return arg
            .parse::<Case>()
            .map(|c| (vec![c], None))
            .map_err(|e| format!("--replay {arg:?}: not a file, and {e}"));
    }
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read failure file {}: {e}", path.display()))?;
    let cases: Result<Vec<Case>, _> = text
        .lines()
        .filter_map(|line| line.strip_prefix("case "))
        .map(str::parse::<Case>)
        .collect();
    let whole_run = text
        .lines()
        .find_map(|line| line.strip_prefix(WHOLE_RUN))
        .map(str::to_owned);
    match cases {
        Ok(cases) if !cases.is_empty() => Ok((cases, whole_run)),
        Ok(_) => Err(match whole_run {
            Some(command) => format!(
                "failure file {} has no case to replay: no case alone shows this finding; run the whole run again: {}",
                path.display(),
                command.trim()
            ),
            None => format!(
                "failure file {} has no `case v1:...` line to replay",
                path.display()
            ),
        }),
        Err(e) => Err(format!("failure file {}: {e}", path.display())),
    }
}

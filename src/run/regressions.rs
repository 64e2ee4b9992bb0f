//! The regression file in a run: its recorded cases are replayed before fuzzing, and a new
//! finding's case is appended to it (or, under CI, only shown). File access runs on a
//! blocking task, never on a runtime thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::rig::Rig;
use crate::case::Case;
use crate::corpus::Corpus;
use crate::engine::{Seen, Stood};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{Baseline, FindingKind};
use crate::report::{Finding, RegressionNote, regression};
use crate::stats::{Stats, StatsCollector};

/// At most this many suspects are written to a regression file when no culprit is known.
const MAX_RECORDED_SUSPECTS: usize = 10;

/// A recorded case that fails again, and what the replays delivered up to it.
pub(crate) struct Regressed {
    pub(crate) kind: FindingKind,
    pub(crate) suspect: Seen,
    pub(crate) stats: Stats,
}

/// Replays every case recorded in `path` whose blob is still the same; the first that fails
/// again is returned.
pub(crate) async fn replay_recorded(
    rig: &mut Rig<'_>,
    path: &Path,
    corpus: &Corpus,
    baselines: &HashMap<String, Baseline>,
) -> Result<Option<Regressed>, SetupError> {
    let owned = path.to_owned();
    let recorded = tokio::task::spawn_blocking(move || regression::read(&owned))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        .map_err(|e| {
            SetupError::new(
                SetupErrorKind::Replay,
                format!("cannot read regression file {}: {e}", path.display()),
            )
            .with_source(e)
        })?;
    let started = Instant::now();
    let blobs = corpus.blobs().iter().map(|blob| (blob.name(), blob.len()));
    let mut stats = StatsCollector::new(blobs, rig.transport().pacing.cycle_len());
    for entry in recorded {
        let Some(blob) = corpus.find(entry.case.blob()) else {
            continue;
        };
        // A case recorded over TLS does not replay over plain TCP.
        if !entry.fits(blob) || (entry.case.is_tls() && rig.transport().tls.is_none()) {
            continue;
        }
        let blob = &super::replay::as_recorded(&entry.case, blob);
        let tried = rig
            .try_case(&entry.case, blob, baselines.get(blob.name()))
            .await?;
        stats.record(&tried.counts);
        stats.cover(blob.name(), entry.case.splits(), tried.counts.chunks);
        if let Some(kind) = tried.failure {
            return Ok(Some(Regressed {
                kind,
                suspect: Seen::new(entry.case, blob, Stood::Replayed),
                stats: stats.snapshot(started.elapsed()),
            }));
        }
    }
    Ok(None)
}

/// Appends the finding's line(s) to the regression file when `write` (see
/// [`RegressionFile`](super::plan::RegressionFile)), or else only shows them.
pub(crate) async fn record(
    finding: &Finding,
    corpus: &Corpus,
    path: &Path,
    write: bool,
    caller: Option<&str>,
) -> Option<RegressionNote> {
    let cases: Vec<&Case> = match finding.minimal() {
        Some(minimal) => vec![minimal],
        None => finding
            .suspects
            .iter()
            .filter(|s| s.bytes_sent() > 0)
            .take(MAX_RECORDED_SUSPECTS)
            .map(|s| s.case())
            .collect(),
    };
    let lines: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let blob = corpus.find(case.blob())?;
            Some(regression::line(case, blob, &finding.kind, finding.seed))
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    if !write {
        return Some(RegressionNote::Printed(lines));
    }
    let comment = format!(
        "{} {}: {}",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        caller.unwrap_or("run"),
        finding.kind.headline()
    );
    let owned: PathBuf = path.to_owned();
    let appended =
        tokio::task::spawn_blocking(move || regression::append(&owned, &comment, &lines))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    Some(match appended {
        Ok(()) => RegressionNote::Written(path.to_owned()),
        Err(e) => RegressionNote::Failed(path.to_owned(), e.to_string()),
    })
}

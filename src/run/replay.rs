//! Replaying one recorded case: the same blob in the same chunks, up to a few times, with
//! no random generator involved.

use tokio::time::Instant;

use super::rig::Rig;
use crate::case::Case;
use crate::corpus::{Blob, Corpus};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{Baseline, FindingKind};
use crate::stats::{Stats, StatsCollector};

/// How many times a case is delivered before the replay counts as passed.
pub(crate) const ATTEMPTS: u32 = 5;

/// Finds the case's blob and checks the case still fits it and the run: the blob as the
/// case was recorded, with the case's own waits when it carries them (a `v2` string).
pub(crate) fn blob_for(case: &Case, corpus: &Corpus, tls: bool) -> Result<Blob, SetupError> {
    if case.is_tls() && !tls {
        return Err(SetupError::new(
            SetupErrorKind::Replay,
            format!(
                "cannot replay {case}: it was sent over TLS; replay it with TLS on (--tls with --tls-ca FILE or --tls-insecure, or .tls(...) in code)"
            ),
        ));
    }
    let blob = corpus.find(case.blob()).ok_or_else(|| {
        SetupError::new(
            SetupErrorKind::Replay,
            format!(
                "cannot replay {case}: no blob is named {:?}; replay with the blob directory the case was found with",
                case.blob()
            ),
        )
    })?;
    if case.splits().total() > blob.len() {
        return Err(SetupError::new(
            SetupErrorKind::Replay,
            format!(
                "cannot replay {case}: its chunks add up to {} bytes but blob {} has {}; the blob changed since the case was recorded",
                case.splits().total(),
                blob.origin(),
                blob.len()
            ),
        ));
    }
    Ok(as_recorded(case, blob))
}

/// `blob` as `case` was recorded with it: with the case's waits, if it carries any.
pub(crate) fn as_recorded(case: &Case, blob: &Blob) -> Blob {
    if case.waits().is_empty() || case.waits() == blob.waits() {
        blob.clone()
    } else {
        blob.with_waits(case.waits())
    }
}

/// How a replay went.
#[derive(Debug)]
pub(crate) struct Replayed {
    /// The attempt that failed and how, if one did.
    pub(crate) failed: Option<(u32, FindingKind)>,
    pub(crate) stats: Stats,
}

/// Delivers `case` up to `attempts` times, stopping at the first failure.
pub(crate) async fn replay(
    rig: &mut Rig<'_>,
    case: &Case,
    blob: &Blob,
    baseline: Option<&Baseline>,
    attempts: u32,
) -> Result<Replayed, SetupError> {
    let cycle = rig.transport().pacing.cycle_len();
    let started = Instant::now();
    let mut stats = StatsCollector::new([(blob.name(), blob.len())], cycle);
    for attempt in 1..=attempts {
        let tried = rig.try_case(case, blob, baseline).await?;
        stats.record(&tried.counts);
        stats.cover(blob.name(), case.splits(), tried.counts.chunks);
        if let Some(kind) = tried.failure {
            return Ok(Replayed {
                failed: Some((attempt, kind)),
                stats: stats.snapshot(started.elapsed()),
            });
        }
        // A stall that passed: its probe was served (the stats line's `stalled=`).
        if case.stall().is_some() {
            stats.stalled();
        }
    }
    Ok(Replayed {
        failed: None,
        stats: stats.snapshot(started.elapsed()),
    })
}

//! Replaying one recorded case: the same blob in the same chunks, up to a few times, with
//! no random generator involved.

use tokio::time::Instant;

use crate::case::{Case, Planned};
use crate::corpus::{Blob, Corpus};
use crate::engine::{
    ConnectError, EXIT_GRACE, Ending, FINAL_SETTLE, Found, Progress, Stopped, Transport,
    exit_within, local_error,
};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{Baseline, Oracles};
use crate::report::{FindingKind, Suspect, SuspectState};
use crate::server::ServerProcess;
use crate::stats::{Stats, StatsCollector};

/// How many times a case is delivered before the replay counts as passed.
pub(crate) const ATTEMPTS: u32 = 5;

/// Finds the case's blob and checks the case still fits it.
pub(crate) fn blob_for<'a>(case: &Case, corpus: &'a Corpus) -> Result<&'a Blob, SetupError> {
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
    Ok(blob)
}

/// Delivers `case` up to `attempts` times, stopping at the first failure. `Ok` holds the
/// stats of a replay that never failed; a failure carries the attempt that failed.
pub(crate) async fn replay(
    case: &Case,
    blob: &Blob,
    transport: Transport,
    mut server: Option<&mut ServerProcess>,
    attempts: u32,
    oracles: &Oracles,
    baseline: Option<&Baseline>,
) -> Result<Stats, (Stopped, u32)> {
    if let Some(server) = server.as_ref() {
        server.arm_output_watch();
    }
    let listen = oracles.listen(baseline, transport.linger);
    let started = Instant::now();
    let mut stats = StatsCollector::new([(blob.name(), blob.len())], transport.pacing.cycle_len());
    let planned = Planned {
        case: case.clone(),
        iteration: 0,
        fastopen: false,
    };
    for attempt in 1..=attempts {
        let progress = Progress::default();
        let outcome = transport
            .delivery(blob, &planned, listen)
            .run(&progress)
            .await;
        let suspect = || Suspect {
            case: case.clone(),
            blob_origin: blob.origin(),
            blob_len: blob.len(),
            iteration: None,
            chunks_sent: progress.chunks.load(std::sync::atomic::Ordering::Relaxed),
            bytes_sent: progress.bytes.load(std::sync::atomic::Ordering::Relaxed),
            state: SuspectState::Replayed,
        };
        let found = |kind, suspects, stats: &StatsCollector| {
            Stopped::Found(Found {
                kind,
                suspects,
                stats: stats.snapshot(started.elapsed()),
            })
        };
        let settle = match &outcome {
            Ok(_) => FINAL_SETTLE,
            Err(_) => EXIT_GRACE,
        };
        if let Ok(delivered) = &outcome {
            stats.record(&delivered.counts);
        }
        if let Some(status) = exit_within(&mut server, settle).await {
            return Err((
                found(FindingKind::ServerDied { status }, vec![suspect()], &stats),
                attempt,
            ));
        }
        if let Some(alarm) = server.as_mut().and_then(|s| s.take_alarm()) {
            let kind = FindingKind::OutputMatched {
                stream: alarm.stream,
                line: alarm.line,
                pattern: alarm.pattern,
            };
            return Err((found(kind, vec![suspect()], &stats), attempt));
        }
        match outcome {
            Ok(delivered) => {
                let judged = (delivered.ending != Ending::ClosedEarly)
                    .then(|| oracles.judge(case, &delivered.heard, baseline))
                    .flatten();
                if let Some(kind) = judged {
                    return Err((found(kind, vec![suspect()], &stats), attempt));
                }
            }
            Err(ConnectError::Refused(e)) => {
                let kind = FindingKind::ConnectRefused {
                    error: e.to_string(),
                };
                return Err((found(kind, vec![suspect()], &stats), attempt));
            }
            Err(ConnectError::TimedOut(after)) => {
                let kind = FindingKind::ConnectTimeout { after };
                return Err((found(kind, vec![suspect()], &stats), attempt));
            }
            Err(ConnectError::Local(e)) => return Err((Stopped::Setup(local_error(e)), attempt)),
        }
    }
    Ok(stats.snapshot(started.elapsed()))
}

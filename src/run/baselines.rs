//! The whole-blob answers that `AnswerOracle::same` compares split deliveries with,
//! taken on the rig's server. A baseline counts only once two whole answers in a row
//! agree (but for what they show to vary): a server that accepts before it is ready
//! ("starting up", "loading") answers otherwise at first, and is asked again, with
//! backoff. A server that dies, refuses or stops accepting meanwhile is a finding like any
//! other.

use std::collections::HashMap;
use std::time::Duration;

use super::rig::Rig;
use crate::case::Case;
use crate::corpus::{Blob, Corpus};
use crate::engine::{FINAL_SETTLE, Found, Seen, Stood, Stopped, deliver_whole, exit_within};
use crate::oracle::{self, Baseline, FindingKind, Relearnt};
use crate::split::Splits;
use crate::stats::Stats;

/// The waits between rounds of whole answers while some blob's two last answers disagree;
/// after the last, the latest answer is taken as it is.
const BACKOFF: [Duration; 6] = [
    Duration::ZERO,
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// Delivers each of `blobs` whole (at most `connections` at once) until two answers in a
/// row agree, and keeps them, with what varies between them learnt.
pub(crate) async fn take_baselines(
    rig: &mut Rig<'_>,
    blobs: &Corpus,
    connections: usize,
) -> Result<HashMap<String, Baseline>, Stopped> {
    let mut baselines: HashMap<String, Baseline> = HashMap::new();
    let mut unsettled: Vec<Blob> = blobs.blobs().to_vec();
    let deadline = tokio::time::Instant::now() + rig.startup_timeout();
    for wait in std::iter::once(Duration::ZERO).chain(BACKOFF) {
        if unsettled.is_empty() || tokio::time::Instant::now() + wait > deadline {
            break;
        }
        tokio::time::sleep(wait).await;
        let round = Corpus::from_blobs(unsettled.clone());
        let heard = whole_round(rig, &round, &baselines, connections).await?;
        let oracles = rig.oracles();
        unsettled.retain(|blob| {
            let Some(heard) = heard.get(blob.name()) else {
                return false;
            };
            match baselines.get_mut(blob.name()) {
                None => {
                    let first = Baseline::new(heard.bytes.clone(), heard.closed());
                    baselines.insert(blob.name().to_owned(), first);
                    true
                }
                // Agreed, or differed only in words or bytes that vary: settled.
                Some(baseline) => oracles.relearn(baseline, heard) == Relearnt::Reshaped,
            }
        });
    }
    // A crash the whole deliveries caused shows a moment after them: watched once, after the
    // last round (each round before only looks).
    if let Some(exit) = exit_within(rig.server(), FINAL_SETTLE).await {
        let suspects = blobs.blobs().iter().map(whole_suspect).collect();
        return Err(found(oracle::exited(exit), suspects));
    }
    Ok(baselines)
}

fn whole_suspect(blob: &Blob) -> Seen {
    let case = Case::new(blob.name(), Splits::whole(blob.len()));
    Seen::new(case, blob, Stood::InFlight)
}

fn found(kind: FindingKind, suspects: Vec<Seen>) -> Stopped {
    Stopped::Found(Found {
        kind,
        seen: suspects,
        stats: Stats::default(),
    })
}

/// One whole delivery of each of `blobs`, or the finding (or setup error) that ended it.
async fn whole_round(
    rig: &mut Rig<'_>,
    blobs: &Corpus,
    known: &HashMap<String, Baseline>,
    connections: usize,
) -> Result<HashMap<String, crate::wire::Heard>, Stopped> {
    let (transport, oracles) = (rig.transport(), rig.oracles());
    let recorded = deliver_whole(blobs, transport, oracles, known, connections).await;
    if let Some(exit) = exit_within(rig.server(), Duration::ZERO).await {
        let suspects = blobs.blobs().iter().map(whole_suspect).collect();
        return Err(found(oracle::exited(exit), suspects));
    }
    let (error, case) = match recorded {
        Ok(heard) => return Ok(heard),
        Err(failed) => failed,
    };
    let suspects = blobs
        .find(case.blob())
        .map(whole_suspect)
        .into_iter()
        .collect();
    Err(match oracle::connect_failed(error) {
        Ok(kind) => found(kind, suspects),
        Err(setup) => Stopped::Setup(setup),
    })
}

//! The whole-blob responses that `expect_same_response` compares split deliveries with,
//! taken on the probe's server. A server that dies, refuses or stops accepting meanwhile is
//! a finding like any other.

use std::collections::HashMap;

use super::probe::Probe;
use crate::case::Case;
use crate::corpus::{Blob, Corpus};
use crate::engine::{FINAL_SETTLE, Found, Stopped, deliver_whole, exit_within};
use crate::oracle::{self, Baseline};
use crate::report::{Suspect, SuspectState};
use crate::split::Splits;
use crate::stats::Stats;

/// Delivers each of `blobs` whole (at most `connections` at once) and keeps the responses.
pub(crate) async fn take_baselines(
    probe: &mut Probe<'_>,
    blobs: &Corpus,
    connections: usize,
) -> Result<HashMap<String, Baseline>, Stopped> {
    let recorded = deliver_whole(blobs, probe.transport(), probe.oracles(), connections).await;
    let whole = |blob: &Blob| {
        let case = Case::new(blob.name(), Splits::whole(blob.len()));
        Suspect::new(case, blob, SuspectState::InFlight)
    };
    let found = |kind, suspects| {
        Stopped::Found(Found {
            kind,
            suspects,
            stats: Stats::default(),
        })
    };
    if let Some(exit) = exit_within(probe.server(), FINAL_SETTLE).await {
        let suspects = blobs.blobs().iter().map(whole).collect();
        return Err(found(oracle::exited(exit), suspects));
    }
    let (error, case) = match recorded {
        Ok(baselines) => return Ok(baselines),
        Err(failed) => failed,
    };
    let suspects = blobs.find(case.blob()).map(whole).into_iter().collect();
    Err(match oracle::connect_failed(error) {
        Ok(kind) => found(kind, suspects),
        Err(setup) => Stopped::Setup(setup),
    })
}

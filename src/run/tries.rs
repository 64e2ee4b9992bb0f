//! The questions narrowing and the culprit search ask the rig, and what they may spend on
//! them: does this case fail again, alone? After how many connections does the server die,
//! whatever they carry?

use std::mem::discriminant;
use tokio::time::Instant;

use super::rig::Rig;
use crate::case::Case;
use crate::control::StopHandle;
use crate::corpus::Blob;
use crate::error::SetupError;
use crate::oracle::{Baseline, FindingKind};
use crate::report::signature;
use crate::split::Splits;

/// What narrowing may still spend: time and deliveries, until the run is asked to stop.
pub(super) struct Spend {
    pub(super) deadline: Instant,
    left: u32,
    stop: Option<StopHandle>,
}

impl Spend {
    /// The budget: until `deadline`, at most `attempts` deliveries.
    pub(super) fn new(deadline: Instant, attempts: u32) -> Self {
        Spend {
            deadline,
            left: attempts,
            stop: None,
        }
    }

    /// The same budget, spent no more once `stop` is stopped (Ctrl-C): the report then
    /// says what narrowing came to so far.
    pub(super) fn until_stopped(self, stop: Option<StopHandle>) -> Self {
        Spend { stop, ..self }
    }

    /// True when time ran out or the run was asked to stop.
    fn over(&self) -> bool {
        Instant::now() >= self.deadline || self.stop.as_ref().is_some_and(StopHandle::is_stopped)
    }

    /// Takes one delivery from the budget: false when it is spent.
    pub(super) fn take(&mut self) -> bool {
        if self.left == 0 || self.over() {
            return false;
        }
        self.left -= 1;
        true
    }

    /// Takes up to `n` from the budget at once: how many it held (0 when it is spent).
    pub(super) fn take_up_to(&mut self, n: usize) -> usize {
        if self.over() {
            return 0;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX).min(self.left);
        self.left -= n;
        n as usize
    }
}

/// The suspects fail together and none alone. If as many deliveries of a blob sent whole, in
/// one write each, kill a fresh server too, the server dies after a number of connections,
/// whatever they carry: that number, found by halving (about log2 of the suspects'
/// count in restarts).
pub(super) async fn dies_after(
    rig: &mut Rig<'_>,
    suspects: &[(Case, &Blob)],
    spend: &mut Spend,
) -> Result<Option<usize>, SetupError> {
    let Some((_, blob)) = suspects.first() else {
        return Ok(None);
    };
    let whole = |n: usize| vec![(Case::new(blob.name(), Splits::whole(blob.len())), *blob); n];
    let (mut passes, mut fails) = (0, suspects.len());
    if !spend.take() {
        return Ok(None);
    }
    rig.fresh_server().await?;
    if !rig.try_together(&whole(fails)).await? {
        return Ok(None);
    }
    while fails - passes > 1 && spend.take() {
        let mid = passes + (fails - passes) / 2;
        rig.fresh_server().await?;
        if rig.try_together(&whole(mid)).await? {
            fails = mid;
        } else {
            passes = mid;
        }
    }
    Ok(Some(fails))
}

/// Delivers `case` once (on a fresh server when `fresh`): does it fail with the same kind of
/// finding as `kind`?
pub(super) async fn fails_again(
    rig: &mut Rig<'_>,
    fresh: bool,
    kind: &FindingKind,
    case: &Case,
    blob: &Blob,
    baseline: Option<&Baseline>,
) -> Result<bool, SetupError> {
    Ok(fails_as(rig, fresh, kind, case, blob, baseline)
        .await?
        .is_some())
}

/// Like [`fails_again`], and when it fails so, the failure itself: this case's own
/// evidence (its answer, its exit).
pub(super) async fn fails_as(
    rig: &mut Rig<'_>,
    fresh: bool,
    kind: &FindingKind,
    case: &Case,
    blob: &Blob,
    baseline: Option<&Baseline>,
) -> Result<Option<FindingKind>, SetupError> {
    if fresh {
        rig.fresh_server().await?;
    }
    let tried = rig.try_case(case, blob, baseline).await?;
    let Some(failure) = tried
        .failure
        .filter(|f| discriminant(f) == discriminant(kind))
    else {
        return Ok(None);
    };
    // A crash narrowed stays that crash: one the server says is elsewhere is another bug.
    if failure.treatment().crash
        && !rig.crash_places.is_empty()
        && let Some(server) = rig.server()
    {
        let here = signature::places(&server.settled_summary().await);
        if !here.iter().any(|place| rig.crash_places.contains(place)) {
            return Ok(None);
        }
    }
    Ok(Some(failure))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_stopped_run_spends_no_more_on_narrowing() {
        let stop = StopHandle::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut spend = Spend::new(deadline, 10).until_stopped(Some(stop.clone()));
        assert!(spend.take());
        assert_eq!(spend.take_up_to(3), 3);
        stop.stop();
        assert!(!spend.take());
        assert_eq!(spend.take_up_to(3), 0);
    }
}

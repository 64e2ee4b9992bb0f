//! From "something broke" to the smallest proof: replay each suspect alone to find the one
//! that fails by itself, then shrink its split pattern, within a time and attempt budget.
//!
//! Real sockets are not perfectly deterministic, so a candidate counts as failing if any of
//! up to `tries` deliveries fails, and the minimal pattern is delivered `tries` more times to
//! report how reliably it reproduces.

use std::collections::HashMap;
use std::mem::discriminant;
use tokio::time::Instant;

use super::culprit::{self, Searched};
use super::probe::Probe;
use crate::case::Case;
use crate::config::Budget;
use crate::corpus::{Blob, Corpus};
use crate::error::SetupError;
use crate::minimize::Shrinker;
use crate::oracle::Baseline;
use crate::report::{FindingKind, Narrowed, NotNarrowed, Suspect};
use crate::split::Splits;

/// What narrowing may still spend: time and deliveries.
pub(super) struct Spend {
    pub(super) deadline: Instant,
    left: u32,
}

impl Spend {
    /// Takes one delivery from the budget: false when it is spent.
    pub(super) fn take(&mut self) -> bool {
        if self.left == 0 || Instant::now() >= self.deadline {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// Narrows a finding made with several (or one) suspects in flight.
pub(crate) async fn narrow(
    probe: &mut Probe<'_>,
    kind: &FindingKind,
    suspects: &[Suspect],
    corpus: &Corpus,
    baselines: &HashMap<String, Baseline>,
    budget: Budget,
) -> Result<Narrowed, SetupError> {
    // Findings about the server as a whole are replayed on a fresh server each time, so
    // one case's effect is never blamed on the next.
    let server_level = matches!(
        kind,
        FindingKind::ServerDied { .. }
            | FindingKind::ConnectRefused { .. }
            | FindingKind::ConnectTimeout { .. }
            | FindingKind::OutputMatched { .. }
    );
    let fresh = server_level && probe.can_restart();
    if budget.time.is_zero() || budget.attempts == 0 {
        return Ok(Narrowed::NotTried(NotNarrowed::Off));
    }
    if matches!(kind, FindingKind::ConnectTimeout { .. }) {
        return Ok(Narrowed::NotTried(NotNarrowed::StopsAccepting));
    }
    if matches!(kind, FindingKind::ServerStoppedReading { .. }) {
        return Ok(Narrowed::NotTried(NotNarrowed::StopsReading));
    }
    if server_level && !probe.can_restart() {
        return Ok(Narrowed::NotTried(NotNarrowed::CannotRestart));
    }
    let mut spend = Spend {
        deadline: Instant::now() + budget.time,
        left: budget.attempts,
    };
    let (case, blob) = match culprit::search(
        probe, fresh, kind, suspects, corpus, baselines, budget, &mut spend,
    )
    .await?
    {
        Searched::Culprit(case, blob) => (case, blob),
        Searched::Narrowed(narrowed) => return Ok(narrowed),
    };

    let base = baselines.get(blob.name());
    if case.stall().is_some() {
        return pause_only(probe, kind, case, blob, base, budget).await;
    }
    let mut shrinker = Shrinker::new(case.splits().clone());
    let mut complete = true;
    'shrink: while let Some(candidate) = shrinker.next_candidate() {
        let trial = case.resplit(candidate.clone());
        let mut failed = false;
        for _ in 0..budget.tries {
            if !spend.take() {
                complete = false;
                break 'shrink;
            }
            if fails_again(probe, fresh, kind, &trial, blob, base).await? {
                failed = true;
                break;
            }
        }
        shrinker.report(candidate, failed);
    }
    let minimal = case.resplit(shrinker.current().clone());
    if minimal.splits().len() <= 1 && minimal.splits().total() == blob.len() {
        // The blob sent whole, in one write, fails the same way: no boundary is to blame.
        return Ok(Narrowed::Unsplit { original: case });
    }
    let reproduced = reproduce(probe, fresh, kind, &minimal, blob, base, budget.tries).await?;
    Ok(Narrowed::Culprit {
        original: case,
        minimal,
        reproduced,
        complete,
    })
}

/// Narrows a case that pauses mid-message, where every try costs the pause: the pause alone,
/// with the rest of the blob in one chunk, is the smallest form; kept if it still fails.
async fn pause_only(
    probe: &mut Probe<'_>,
    kind: &FindingKind,
    case: Case,
    blob: &Blob,
    base: Option<&Baseline>,
    budget: Budget,
) -> Result<Narrowed, SetupError> {
    let trial = case.resplit(Splits::whole(case.splits().total()));
    let mut minimal = case.clone();
    if trial != case {
        for _ in 0..budget.tries {
            if fails_again(probe, false, kind, &trial, blob, base).await? {
                minimal = trial;
                break;
            }
        }
    }
    let reproduced = reproduce(probe, false, kind, &minimal, blob, base, budget.tries).await?;
    Ok(Narrowed::Culprit {
        original: case,
        minimal,
        reproduced,
        complete: true,
    })
}

/// How many of `tries` deliveries of `minimal` fail as `kind`.
async fn reproduce(
    probe: &mut Probe<'_>,
    fresh: bool,
    kind: &FindingKind,
    minimal: &Case,
    blob: &Blob,
    base: Option<&Baseline>,
    tries: u32,
) -> Result<(u32, u32), SetupError> {
    let mut reproduced = 0;
    for _ in 0..tries {
        if fails_again(probe, fresh, kind, minimal, blob, base).await? {
            reproduced += 1;
        }
    }
    Ok((reproduced, tries))
}

/// The suspects fail together and none alone. If as many deliveries of a blob sent whole, in
/// one write each, kill a fresh server too, the server dies after a number of connections,
/// whatever they carry: that number, found by halving (about log2 of the suspects'
/// count in restarts).
pub(super) async fn dies_after(
    probe: &mut Probe<'_>,
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
    probe.fresh_server().await?;
    if !probe.try_together(&whole(fails)).await? {
        return Ok(None);
    }
    while fails - passes > 1 && spend.take() {
        let mid = passes + (fails - passes) / 2;
        probe.fresh_server().await?;
        if probe.try_together(&whole(mid)).await? {
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
    probe: &mut Probe<'_>,
    fresh: bool,
    kind: &FindingKind,
    case: &Case,
    blob: &Blob,
    baseline: Option<&Baseline>,
) -> Result<bool, SetupError> {
    if fresh {
        probe.fresh_server().await?;
    }
    let probed = probe.try_case(case, blob, baseline).await?;
    Ok(probed
        .failure
        .is_some_and(|f| discriminant(&f) == discriminant(kind)))
}

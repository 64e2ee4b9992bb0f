//! The client's verdict gate and narrowing: a failure counts only when its cut fails alone,
//! round after round, each after a pass with whole answers; then it is shrunk to a locally
//! minimal cut, the answers first, then the requests.

use std::time::{Duration, Instant};

use super::attempt::{Attempt, Ctx, cutting};
use super::case::ClientCase;
use super::judge::{ClientFindingKind, Expected};
use super::relay::Cutting;
use crate::error::SetupError;
use crate::minimize::Shrinker;
use crate::split::Splits;

/// Confirmation rounds: a failure counts when the case fails alone this many times, each
/// after the client passed with its answers whole.
const ROUNDS: usize = 3;

/// How long narrowing may take.
const NARROW_TIME: Duration = Duration::from_secs(20);

/// Tries `case` alone [`ROUNDS`] times, each after a run with the answers whole (whose
/// output the noise model learns from): the last failing attempt when every round failed
/// the same way, `None` when the case passed once or the client failed with whole answers.
pub(super) async fn confirm(
    ctx: &Ctx,
    expected: &mut Expected,
    case: &ClientCase,
    kind: &ClientFindingKind,
) -> Result<Option<Attempt>, SetupError> {
    let mut last = None;
    for _ in 0..ROUNDS {
        let again = ctx.attempt(Cutting::default()).await?;
        if expected
            .judge(&again.run)
            .is_some_and(|k| !matches!(k, ClientFindingKind::OutputDiffers { .. }))
        {
            return Ok(None);
        }
        expected.learn(&again.run.output);
        let attempt = ctx.attempt(cutting(case)).await?;
        match expected.judge(&attempt.run) {
            Some(k) if k.same_kind(kind) => last = Some(attempt),
            _ => return Ok(None),
        }
    }
    Ok(last)
}

/// The case narrowed: fewer cuts, each slid as early as the client still fails alike.
pub(super) async fn narrow(
    ctx: &Ctx,
    expected: &mut Expected,
    case: &ClientCase,
    kind: &ClientFindingKind,
) -> Result<ClientCase, SetupError> {
    let deadline = Instant::now() + NARROW_TIME;
    let mut minimal = case.clone();
    // The answers first, then the requests (when they were cut), the other kept as it is.
    for requests in [false, true] {
        let start = match (requests, minimal.requests()) {
            (false, _) => minimal.answers().clone(),
            (true, Some(cut)) => cut.clone(),
            (true, None) => break,
        };
        let with = |splits: Splits| match requests {
            false => minimal.clone().with_answers(splits),
            true => minimal.clone().with_requests(splits),
        };
        let mut shrinker = Shrinker::keeping(start, Vec::new());
        while let Some(candidate) = shrinker.next_candidate() {
            if Instant::now() >= deadline {
                break;
            }
            let attempt = ctx.attempt(cutting(&with(candidate.clone()))).await?;
            let failed = expected
                .judge(&attempt.run)
                .is_some_and(|k| k.same_kind(kind));
            shrinker.report(candidate, failed);
        }
        minimal = with(shrinker.current().clone());
    }
    if minimal != *case && confirm(ctx, expected, &minimal, kind).await?.is_none() {
        return Ok(case.clone());
    }
    Ok(minimal)
}

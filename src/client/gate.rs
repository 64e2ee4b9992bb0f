//! The client's verdict gate and narrowing: a failure counts only when its cut fails alone,
//! round after round, each after a pass with whole answers; then it is shrunk to a locally
//! minimal cut, the answers first, then the requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attempt::{Attempt, Ctx, cutting};
use super::case::ClientCase;
use super::judge::{ClientFindingKind, Expected};
use super::relay::Cutting;
use super::signature::place as place_of;
use super::streams::Streams;
use crate::engine::{ALONE_FACTOR, ALONE_FLOOR, ROUNDS};
use crate::error::SetupError;
use crate::minimize::Shrinker;
use crate::split::Splits;

/// How many candidates of a hang are tried side by side (each given what a hang alone gets
/// on the server side: `ALONE_FACTOR` times a run with whole answers, at least `ALONE_FLOOR`).
const HANG_ROUND: usize = 8;

/// Runs the client once per cut in `cuts`, all at once, each given `limit`.
async fn at_once(
    ctx: &Arc<Ctx>,
    cuts: Vec<Cutting>,
    limit: Duration,
) -> Result<Vec<Attempt>, SetupError> {
    let mut runs = tokio::task::JoinSet::new();
    for (i, cut) in cuts.into_iter().enumerate() {
        let ctx = Arc::clone(ctx);
        runs.spawn(async move { (i, ctx.attempt_within(cut, limit).await) });
    }
    let mut done: Vec<(usize, Attempt)> = Vec::with_capacity(runs.len());
    while let Some(joined) = runs.join_next().await {
        let (i, attempt) = joined.map_err(|e| {
            SetupError::new(
                crate::error::SetupErrorKind::Harness,
                format!("a run of the client did not finish: {e}"),
            )
        })?;
        done.push((i, attempt?));
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, attempt)| attempt).collect())
}

/// How a case tried alone went: the last failing attempt when every round failed the same
/// way, else why not, in words.
pub(super) type Confirmation = Result<Attempt, String>;

/// Tries `case` alone [`ROUNDS`] times, each after a run with the answers whole (whose
/// output the noise model learns from): the last failing attempt when every round failed
/// the same way; else how far it got (it passed in a round, or the client failed with its
/// answers whole too).
pub(super) async fn confirm(
    ctx: &Ctx,
    expected: &mut Expected,
    case: &ClientCase,
    kind: &ClientFindingKind,
) -> Result<Confirmation, SetupError> {
    let mut last = None;
    for round in 0..ROUNDS {
        let again = ctx.attempt(Cutting::default()).await?;
        if expected
            .judge(&again.run)
            .is_some_and(|k| !matches!(k, ClientFindingKind::OutputDiffers { .. }))
        {
            return Ok(Err("it failed with its answers whole too".to_owned()));
        }
        expected.learn(&again.run.output);
        let attempt = ctx.attempt(cutting(case)).await?;
        match expected.judge(&attempt.run) {
            Some(k) if k.same_kind(kind) => last = Some(attempt),
            _ => return Ok(Err(format!("failed {round} of {} alone", round + 1))),
        }
    }
    Ok(last.ok_or_else(|| "never tried alone".to_owned()))
}

/// The case narrowed: fewer cuts, each slid as early as the client still fails alike: the
/// same kind of failure, at the same `place` when the failure named one (a shorter cut that
/// crashes elsewhere is another bug). The cuts inside one frame header (or HTTP/2 header
/// block) of `streams` are narrowed as a group, as on the server side.
pub(super) async fn narrow(
    ctx: &Arc<Ctx>,
    streams: &Streams,
    expected: &mut Expected,
    case: &ClientCase,
    kind: &ClientFindingKind,
    place: Option<&str>,
) -> Result<ClientCase, SetupError> {
    let deadline = Instant::now() + ctx.settings.narrow_time;
    // A hang costs its whole wait: its candidates are tried side by side, each given 10 times
    // what a run with the answers whole takes now (the server side does the same).
    let (width, limit) = match kind {
        ClientFindingKind::Hung { .. } => {
            let started = Instant::now();
            ctx.attempt(Cutting::default()).await?;
            let limit = (started.elapsed() * ALONE_FACTOR)
                .max(ALONE_FLOOR)
                .min(ctx.settings.timeout);
            (HANG_ROUND, limit)
        }
        _ => (1, ctx.settings.timeout),
    };
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
        let groups = match requests {
            false => streams.answers_shape().cut_groups(),
            true => streams.requests_shape().cut_groups(),
        };
        let mut shrinker = Shrinker::grouping(start, Vec::new(), groups);
        while Instant::now() < deadline {
            let round: Vec<Splits> = std::iter::from_fn(|| shrinker.next_candidate())
                .take(width)
                .collect();
            if round.is_empty() {
                break;
            }
            let cuts = round.iter().map(|c| cutting(&with(c.clone()))).collect();
            let attempts = at_once(ctx, cuts, limit).await?;
            let failing = round.into_iter().zip(attempts).find(|(_, attempt)| {
                expected.judge(&attempt.run).is_some_and(|k| {
                    k.same_kind(kind)
                        && place.is_none_or(|p| place_of(&k, attempt).as_deref() == Some(p))
                })
            });
            if let Some((candidate, _)) = failing {
                shrinker.report(candidate, true);
            }
        }
        minimal = with(shrinker.current().clone());
    }
    if minimal != *case && confirm(ctx, expected, &minimal, kind).await?.is_err() {
        return Ok(case.clone());
    }
    Ok(minimal)
}

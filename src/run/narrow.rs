//! From "something broke" to the smallest proof: replay each suspect alone to find the one
//! that fails by itself, then shrink its split pattern, within a time and attempt budget.
//!
//! Real sockets are not perfectly deterministic, so a candidate counts as failing if any of
//! up to `tries` deliveries fails, and the minimal pattern is delivered `tries` more times to
//! report how reliably it reproduces.

use std::collections::HashMap;
use std::mem::discriminant;
use std::ops::RangeInclusive;
use tokio::time::Instant;

use super::culprit::{self, Searched};
use super::rig::Rig;
use super::tries::{Spend, fails_again, fails_as};
use crate::case::Case;
use crate::config::Budget;
use crate::corpus::{Blob, Corpus};
use crate::engine::{ALONE_FACTOR, ALONE_FLOOR, Seen};
use crate::error::SetupError;
use crate::minimize::Shrinker;
use crate::oracle::{Baseline, FindingKind};
use crate::report::{Narrowed, NotNarrowed, Reproduced};
use crate::split::{Shape, Splits};

/// Narrows a finding made with several (or one) suspects in flight.
pub(crate) async fn narrow(
    rig: &mut Rig<'_>,
    kind: &FindingKind,
    suspects: &[Seen],
    corpus: &Corpus,
    baselines: &HashMap<String, Baseline>,
    budget: Budget,
) -> Result<Narrowed, SetupError> {
    // Findings about the server as a whole are replayed on a fresh server each time, so
    // one case's effect is never blamed on the next.
    let server_level = kind.treatment().server_level;
    let fresh = server_level && rig.can_restart();
    if let Some(why) = not_tried(kind, budget, rig.can_restart()) {
        return Ok(Narrowed::NotTried(why));
    }
    let mut spend =
        Spend::new(Instant::now() + budget.time, budget.attempts).until_stopped(rig.stop_handle());
    let (case, blob) = match culprit::search(
        rig, fresh, kind, suspects, corpus, baselines, budget, &mut spend,
    )
    .await?
    {
        Searched::Culprit(case, blob) => (case, blob),
        Searched::Narrowed(narrowed) => return Ok(*narrowed),
    };

    let base = baselines.get(blob.name());
    if case.stall().is_some() {
        return pause_only(rig, kind, case, blob, base, budget).await;
    }
    if !fresh && kind.treatment().hang {
        return shrink_at_once(rig, kind, case, blob, base, budget, &mut spend).await;
    }
    let mut shrinking = Shrinking {
        rig: &mut *rig,
        fresh,
        kind,
        blob,
        base,
        tries: budget.tries,
        spend: &mut spend,
        complete: true,
    };
    let minimal = shrinking.pattern(&case).await?;
    let minimal = shrinking.gentler(minimal).await?;
    let complete = shrinking.complete;
    if unsplit(&minimal, blob) {
        return Ok(Narrowed::Unsplit { original: case });
    }
    let reproduced = reproduce(rig, fresh, kind, &minimal, blob, base, budget.tries).await?;
    Ok(Narrowed::culprit(
        case,
        minimal,
        reproduced,
        complete,
        blob.bytes(),
    ))
}

/// Why a finding of this kind is not narrowed at all, if it is not: narrowing is off, the
/// server stopped accepting or reading (every try would wait out a timeout), or a finding
/// about the server as a whole meets a server the harness cannot restart.
fn not_tried(kind: &FindingKind, budget: Budget, can_restart: bool) -> Option<NotNarrowed> {
    if budget.time.is_zero() || budget.attempts == 0 {
        return Some(NotNarrowed::Off);
    }
    if matches!(kind, FindingKind::ConnectTimeout { .. }) {
        return Some(NotNarrowed::StopsAccepting);
    }
    if matches!(kind, FindingKind::ServerStoppedReading { .. }) {
        return Some(NotNarrowed::StopsReading);
    }
    if kind.treatment().server_level && !can_restart {
        return Some(NotNarrowed::CannotRestart);
    }
    None
}

/// Shrinks a culprit one delivery at a time (on a fresh server each, when `fresh`), each
/// candidate given up to `tries` deliveries while the budget lasts.
struct Shrinking<'a, 'p> {
    rig: &'a mut Rig<'p>,
    fresh: bool,
    kind: &'a FindingKind,
    blob: &'a Blob,
    base: Option<&'a Baseline>,
    tries: u32,
    spend: &'a mut Spend,
    /// The budget held every candidate tried (none was cut off).
    complete: bool,
}

impl Shrinking<'_, '_> {
    /// Does `trial` fail again within its tries? `None` when the budget ran out first (the
    /// shrinking is then incomplete).
    async fn fails(&mut self, trial: &Case) -> Result<Option<bool>, SetupError> {
        for _ in 0..self.tries {
            if !self.spend.take() {
                self.complete = false;
                return Ok(None);
            }
            if fails_again(self.rig, self.fresh, self.kind, trial, self.blob, self.base).await? {
                return Ok(Some(true));
            }
        }
        Ok(Some(false))
    }

    /// The smallest split pattern of `case` that still fails, as far as the budget goes;
    /// the boundaries the case keeps stay.
    async fn pattern(&mut self, case: &Case) -> Result<Case, SetupError> {
        let mut shrinker = Shrinker::grouping(
            case.splits().clone(),
            case.kept_boundaries(),
            cut_groups(self.blob),
        );
        let treatment = self.kind.treatment();
        self.rig.short_settle = !(treatment.crash || treatment.server_level || treatment.ended);
        let shrunk = self.shrink(case, &mut shrinker).await;
        self.rig.short_settle = false;
        shrunk?;
        Ok(case.resplit(shrinker.current().clone()))
    }

    /// Tries the shrinker's candidates until it has none left or the budget runs out.
    async fn shrink(&mut self, case: &Case, shrinker: &mut Shrinker) -> Result<(), SetupError> {
        while let Some(candidate) = shrinker.next_candidate() {
            let trial = case.resplit(candidate.clone());
            let Some(failed) = self.fails(&trial).await? else {
                break;
            };
            shrinker.report(candidate, failed);
        }
        Ok(())
    }

    /// A slow reader's schedule, made gentler while it still fails: fewer, larger reads,
    /// shorter pauses. A case that reads at full speed is returned as it is.
    async fn gentler(&mut self, mut minimal: Case) -> Result<Case, SetupError> {
        'gentle: while let Some(slow) = minimal.slow() {
            let mut gentler = None;
            for schedule in slow.gentler() {
                let trial = minimal.clone().with_slow_read(Some(schedule));
                match self.fails(&trial).await? {
                    None => break 'gentle,
                    Some(true) => {
                        gentler = Some(trial);
                        break;
                    }
                    Some(false) => {}
                }
            }
            match gentler {
                Some(trial) => minimal = trial,
                None => break,
            }
        }
        Ok(minimal)
    }
}

/// Where the cuts of `blob` are narrowed as groups: inside each frame header, and inside each
/// HTTP/2 header block (none for a blob of no known framing).
fn cut_groups(blob: &Blob) -> Vec<RangeInclusive<usize>> {
    let parts: Vec<usize> = blob.waits().iter().map(|w| w.at).collect();
    Shape::conversation(blob.bytes(), &parts).cut_groups()
}

/// True when `minimal` is the blob sent whole, in one write, read at full speed: failing
/// that way, no boundary (and no slow read) is to blame.
fn unsplit(minimal: &Case, blob: &Blob) -> bool {
    minimal.splits().total() == blob.len()
        && minimal.slow().is_none()
        && minimal.stall().is_none()
        && *minimal == minimal.resplit(Splits::whole(blob.len()))
}

/// How many shrinking candidates one round delivers at once, at most (each `tries` times):
/// few enough that the server still reads every chunk alone with all of them in flight.
const ROUND: usize = 16;

/// Shrinks a hang on the live server in rounds, where every failing try costs the whole
/// response timeout: the candidates of the current pattern, `tries` copies each, all
/// delivered at once, each on its own connection; the first (in the shrinker's order) that
/// hangs becomes the current pattern. A round costs one timeout, however many it holds.
async fn shrink_at_once(
    rig: &mut Rig<'_>,
    kind: &FindingKind,
    case: Case,
    blob: &Blob,
    base: Option<&Baseline>,
    budget: Budget,
    spend: &mut Spend,
) -> Result<Narrowed, SetupError> {
    let tries = budget.tries.max(1) as usize;
    let mut shrinker = Shrinker::grouping(
        case.splits().clone(),
        case.kept_boundaries(),
        cut_groups(blob),
    );
    let mut complete = true;
    // A candidate is given what a hang alone gets at the verdict gate: ten times what the
    // blob sent whole takes now (at least `ALONE_FLOOR`), not the whole response timeout,
    // so narrowing a hang takes about as long whatever that timeout; the minimal case is
    // then reproduced with the whole timeout.
    let started = Instant::now();
    let whole = case.resplit(Splits::whole(blob.len()));
    rig.try_at_once(std::slice::from_ref(&whole), blob, base, None)
        .await?;
    let alone = Some((started.elapsed() * ALONE_FACTOR).max(ALONE_FLOOR));
    loop {
        let mut round: Vec<Splits> = std::iter::from_fn(|| shrinker.next_candidate())
            .take(ROUND)
            .collect();
        if round.is_empty() {
            break;
        }
        // A round costs one wait however many it holds: the budget counts its candidates,
        // not their copies; a round the rest of the budget cannot hold is cut to fit.
        let fits = spend.take_up_to(round.len());
        if fits == 0 {
            complete = false;
            break;
        }
        if fits < round.len() {
            round.truncate(fits);
            complete = false;
        }
        let trials: Vec<Case> = round
            .iter()
            .flat_map(|c| std::iter::repeat_n(case.resplit(c.clone()), tries))
            .collect();
        let judged = rig.try_at_once(&trials, blob, base, alone).await?;
        let failures = judged.chunks(tries).map(|copies| failing(copies, kind));
        if let Some((i, _)) = failures.enumerate().find(|(_, f)| f.failed > 0) {
            shrinker.report(round[i].clone(), true);
        }
    }
    let minimal = case.resplit(shrinker.current().clone());
    if unsplit(&minimal, blob) {
        return Ok(Narrowed::Unsplit { original: case });
    }
    let copies = vec![minimal.clone(); tries];
    let judged = rig.try_at_once(&copies, blob, base, None).await?;
    let reproduced = failing(&judged, kind);
    Ok(Narrowed::culprit(
        case,
        minimal,
        reproduced,
        complete,
        blob.bytes(),
    ))
}

/// How many of the deliveries `judged` at once failed the way `kind` says, and the first
/// such failure.
fn failing(judged: &[Option<FindingKind>], kind: &FindingKind) -> Reproduced {
    let mut same = judged
        .iter()
        .flatten()
        .filter(|k| discriminant(*k) == discriminant(kind));
    let evidence = same.next().cloned();
    Reproduced {
        failed: u32::from(evidence.is_some()) + same.count() as u32,
        tries: judged.len() as u32,
        evidence,
        output: None,
    }
}

/// Narrows a case that pauses mid-message, where every try costs the pause: the pause alone,
/// with the rest of the blob in one chunk, is the smallest form; kept if it still fails.
async fn pause_only(
    rig: &mut Rig<'_>,
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
            if fails_again(rig, false, kind, &trial, blob, base).await? {
                minimal = trial;
                break;
            }
        }
    }
    let reproduced = reproduce(rig, false, kind, &minimal, blob, base, budget.tries).await?;
    Ok(Narrowed::culprit(
        case,
        minimal,
        reproduced,
        true,
        blob.bytes(),
    ))
}

/// How many of `tries` deliveries of `minimal` fail as `kind`, and the first such failure:
/// the minimal case's own evidence; on a fresh server for each (`fresh`), also what the
/// server printed while the minimal case alone reached it, the last time.
async fn reproduce(
    rig: &mut Rig<'_>,
    fresh: bool,
    kind: &FindingKind,
    minimal: &Case,
    blob: &Blob,
    base: Option<&Baseline>,
    tries: u32,
) -> Result<Reproduced, SetupError> {
    let mut reproduced = Reproduced {
        failed: 0,
        tries,
        evidence: None,
        output: None,
    };
    for _ in 0..tries {
        if let Some(failure) = fails_as(rig, fresh, kind, minimal, blob, base).await? {
            reproduced.failed += 1;
            reproduced.evidence.get_or_insert(failure);
            if fresh && let Some(server) = rig.server() {
                reproduced.output = Some(server.settled_summary().await);
            }
        }
    }
    Ok(reproduced)
}

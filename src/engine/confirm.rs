//! The verdict gate: a finding about an answer (it differs, ended otherwise, came short or
//! not at all, failed the user's check, a probe went unserved during a pause) counts only
//! when it reproduces. Deliveries run concurrently, so a server with shared state may
//! answer one differently because of another; a server may answer the same request
//! differently by itself (a date, an id, a random token); a server may not be ready yet.
//! None of that is a boundary bug.
//!
//! First the delivery is judged again against what is known now: when a clock ticks, every
//! delivery in flight differs at once, and the first one through the gate teaches the rest.
//! Then, with no other delivery in flight, [`ROUNDS`] times: the blob is sent whole twice,
//! back to back (fresh answers, from which what varies is learnt, and which become the
//! baseline if the answer changed for good), then the case is delivered and judged again
//! against them. (A pause costs its length: its copies wait side by side, in one round; so
//! do a hang's, each for 10 times what the blob sent whole just took alone.) The finding
//! counts only when every round fails. One round that passes makes it `unconfirmed=` in the
//! stats, listed by case string (`varied=` when it passed once what varies was learnt); a
//! whole blob that fails the same way makes it `unsplit_fails=`, a warning; the run goes on
//! either way.

use std::time::Duration;

use tokio::time::Instant;

use super::accepts::accepts_when_idle;
use super::book::{Book, Running};
use super::exit_waits::CONFIRM_SETTLE;
use super::{Progress, Stopped, exit_within};
use crate::case::Drawn;
use crate::oracle::{self, FindingKind, Rejudged, Relearnt};
use crate::wire::{ConnectError, Ending, Heard, Neglect, ReadEnd};

/// How many times a finding about an answer must fail alone before it counts.
pub(crate) const ROUNDS: u32 = 3;

/// A hang's copies, alone on the server, wait this many times as long as the blob sent whole
/// took to be answered alone just before them (at least [`ALONE_FLOOR`], at most the
/// response timeout): a correct server with nothing else to do answers a split request
/// about as fast as a whole one, and it gets 10 times that, three times over.
pub(crate) const ALONE_FACTOR: u32 = 10;
pub(crate) const ALONE_FLOOR: Duration = Duration::from_millis(250);

/// What a delivery that failed heard, kept for the gate.
pub(super) type Answered = (Ending, Heard, Option<Neglect>);

/// Takes `running`'s case, which failed as `first` with `delivered`, through the verdict
/// gate: `Some` is the finding when it fails every round (or kills the server, or a connect
/// fails), `None` when it does not count.
pub(super) async fn confirm_alone<'a>(
    run: &mut super::Fuzzing<'a>,
    book: &mut Book<'a>,
    running: Running<'a>,
    first: &FindingKind,
    delivered: &Answered,
) -> Option<Stopped> {
    let (ending, heard, neglect) = delivered;
    let baseline = run.baselines.get(running.blob.name());
    if run
        .oracles
        .judge_delivery(&running.drawn.case, *ending, heard, baseline, *neglect)
        .is_none()
    {
        // Another delivery's pass through the gate taught what varies here.
        book.stats.varied();
        return None;
    }
    // The blob sent whole got a protocol failure too when the gate last asked.
    if matches!(first, FindingKind::ProtocolFailure { .. }) && book.fails_whole(running.blob.name())
    {
        return None;
    }
    let whole = Drawn::whole(running.blob, running.drawn.iteration);
    // A hang or a pause costs a long wait: its copies wait side by side, in one round
    // (copies of a correct case do not stop each other being answered or served).
    let waits = matches!(
        first,
        FindingKind::NoResponse { .. } | FindingKind::StoppedServingOthers { .. }
    );
    let (rounds, copies) = if waits { (1, ROUNDS) } else { (ROUNDS, 1) };
    let mut gate = Gate {
        run,
        book,
        running,
        first,
        whole,
        copies,
        hang: first.treatment().hang,
        learnt: false,
        last: None,
        failed_alone: 0,
        tried_alone: 0,
    };
    for _ in 0..rounds {
        match gate.round().await {
            Ok(Round::Failed) => {}
            Ok(Round::Passed) => break,
            Ok(Round::WholeFailsToo) => return None,
            Err(stopped) => return Some(stopped),
        }
    }
    gate.verdict()
}

/// A case on its way through the gate: what it was first found to be, and what its
/// deliveries alone have shown so far (shared by its rounds).
struct Gate<'g, 'a> {
    run: &'g mut super::Fuzzing<'a>,
    book: &'g mut Book<'a>,
    running: Running<'a>,
    first: &'g FindingKind,
    /// The case's blob sent whole, for the fresh answers.
    whole: Drawn,
    /// How many copies of the case a round delivers, side by side.
    copies: u32,
    /// A hang: its copies alone wait a time of their own, shorter.
    hang: bool,
    /// What varies in the answers was learnt on the way.
    learnt: bool,
    /// What the last copy alone was found to be, if it failed.
    last: Option<FindingKind>,
    /// Deliveries alone, and how many of them failed: said when the case stays unconfirmed.
    failed_alone: u32,
    tried_alone: u32,
}

/// How one round alone went.
enum Round {
    /// Every copy failed: the finding stands, so far.
    Failed,
    /// A copy passed (or varied): no more rounds.
    Passed,
    /// The blob sent whole fails the same way: not a boundary bug, and counted as such.
    WholeFailsToo,
}

impl Gate<'_, '_> {
    /// One round: the blob sent whole twice, back to back (from which what varies is
    /// learnt, and the time the server takes alone), then the case's copies delivered alone
    /// and judged against the second answer. The error is the finding when the server
    /// died, stopped answering or refused meanwhile.
    async fn round(&mut self) -> Result<Round, Stopped> {
        // Two whole answers back to back: what a server varies from one request to the
        // next (records it rotates) shows between them, whatever the split's turn is.
        let earlier = whole_alone(self.run, self.book, &self.running, &self.whole).await?;
        if let Some(stopped) = stopped_answering(self.run, self.book, &self.running, &earlier) {
            return Err(stopped);
        }
        if let Some(baseline) = self.run.baselines.get_mut(self.running.blob.name()) {
            self.learnt |= self.run.oracles.relearn(baseline, &earlier) != Relearnt::Unchanged;
        }
        // The second is answered after whatever the server still had queued from the
        // deliveries cut short: its time is the server's own, alone.
        let started = Instant::now();
        let fresh = whole_alone(self.run, self.book, &self.running, &self.whole).await?;
        // Less the quiet its listening waits out after the answer.
        let whole_took = started.elapsed().saturating_sub(oracle::WHOLE_SETTLE);
        let split = vec![self.running.drawn.clone(); self.copies as usize];
        let alone = self
            .hang
            .then(|| (whole_took * ALONE_FACTOR).max(ALONE_FLOOR));
        let delivered =
            deliver_alone(self.run, self.book, &self.running, &split, Some(alone)).await?;
        Ok(self.rejudge(delivered, &fresh))
    }

    /// Judges each copy delivered alone against `fresh`, the blob's whole answer just
    /// before: the round fails when every copy fails; it ends the rounds at the first copy
    /// that passes or varies, or when the blob sent whole fails the same way.
    fn rejudge(&mut self, delivered: Vec<Answered>, fresh: &Heard) -> Round {
        for (ending, heard, neglect) in delivered {
            self.tried_alone += 1;
            let baseline = self.run.baselines.get_mut(self.running.blob.name());
            match self.run.oracles.rejudge(
                &self.running.drawn.case,
                (ending, &heard, neglect),
                baseline,
                fresh,
            ) {
                // Unanswered within the shorter wait alone: the hang as first seen, after its
                // whole response timeout.
                Rejudged::Fails(FindingKind::NoResponse { .. }) if self.hang => {
                    self.failed_alone += 1;
                    self.last = Some(self.first.clone());
                }
                Rejudged::Fails(kind) => {
                    self.failed_alone += 1;
                    self.last = Some(kind);
                }
                Rejudged::Varied => {
                    self.learnt = true;
                    self.last = None;
                    return Round::Passed;
                }
                Rejudged::Passes => {
                    self.last = None;
                    return Round::Passed;
                }
                Rejudged::WholeFailsToo(kind) => {
                    if matches!(kind, FindingKind::ProtocolFailure { .. }) {
                        self.book.whole_fails(self.running.blob.name());
                    }
                    self.book.stats.unsplit_fails();
                    return Round::WholeFailsToo;
                }
            }
        }
        Round::Failed
    }

    /// The verdict once the rounds are over: the finding when the last copy failed; else
    /// it does not count, said as varied when what varies was learnt, else as unconfirmed.
    fn verdict(self) -> Option<Stopped> {
        match self.last {
            Some(kind) => Some(Stopped::Found(self.book.found_in(kind, &self.running))),
            None if self.learnt => {
                self.book.stats.varied();
                None
            }
            None => {
                self.book.stats.unconfirmed(
                    &self.running.drawn.case,
                    &self.first.brief(),
                    (self.failed_alone, self.tried_alone),
                );
                None
            }
        }
    }
}

/// A server that, with nothing else in flight, leaves the blob sent whole unanswered (it
/// answered it when the run began) while bytes wait unread in it has stopped reading: a
/// finding about the server, not a doubt about one case (a blocked accept loop, a frozen
/// process). Judged here, since the run loop's own look waits while the gate runs.
fn stopped_answering<'a>(
    run: &super::Fuzzing<'a>,
    book: &mut Book<'a>,
    running: &Running<'a>,
    whole: &Heard,
) -> Option<Stopped> {
    let answered_before = run
        .baselines
        .get(running.blob.name())
        .is_some_and(|b| b.expected_len() > 0);
    if whole.received > 0 || whole.end != ReadEnd::TimedOut || !answered_before {
        return None;
    }
    let kind = oracle::stopped_reading(run.transport.pacing.unread_since())?;
    // The case in doubt was in flight when the server stopped, with the others.
    let mut found = book.found(kind);
    found.seen.insert(
        0,
        running.seen(super::Stood::FinishedBefore(Duration::ZERO)),
    );
    Some(Stopped::Found(found))
}

/// What the server answers `running`'s blob sent `whole`, alone.
async fn whole_alone<'a>(
    run: &mut super::Fuzzing<'a>,
    book: &mut Book<'a>,
    running: &Running<'a>,
    whole: &Drawn,
) -> Result<Heard, Stopped> {
    let mut answered = deliver_alone(run, book, running, std::slice::from_ref(whole), None).await?;
    Ok(answered.remove(0).1)
}

/// Delivers `drawn` (cases of `running`'s blob, side by side) with no other delivery in
/// flight, listening as the gate's whole answers do when `split` is `None` (they are the
/// blob sent whole), else as split deliveries do, for at most the limit given if any: how
/// each ended and what the server answered, or the finding when the server died or refused
/// meanwhile.
async fn deliver_alone<'a>(
    run: &mut super::Fuzzing<'a>,
    book: &mut Book<'a>,
    running: &Running<'a>,
    drawn: &[Drawn],
    split: Option<Option<Duration>>,
) -> Result<Vec<Answered>, Stopped> {
    let baseline = run.baselines.get(running.blob.name());
    let listen = match split {
        None => run.oracles.whole_listen(baseline),
        Some(limit) => run
            .oracles
            .listen(baseline, run.transport.linger)
            .within(limit),
    };
    // A connect that times out here, alone, is tried once more when the server then
    // accepts a connection within the startup timeout: slow (its queue still full of the
    // deliveries cut short), not stopped.
    let mut retried = false;
    'attempts: loop {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, drawn) in drawn.iter().enumerate() {
            let connection = run.transport.connection(running.blob, drawn, listen);
            tasks.spawn(async move { (i, connection.run(&Progress::default()).await) });
        }
        let mut outcomes: Vec<_> = tasks.join_all().await;
        outcomes.sort_by_key(|(i, _)| *i);
        if let Some(exit) = exit_within(run.server.as_deref_mut(), CONFIRM_SETTLE).await {
            return Err(Stopped::Found(
                book.found_replaying(oracle::exited(exit), running),
            ));
        }
        let mut heard = Vec::with_capacity(outcomes.len());
        for (_, outcome) in outcomes {
            match outcome {
                Ok(delivered) => {
                    heard.push((delivered.ending, delivered.heard, delivered.neglect));
                }
                Err(ConnectError::TimedOut(_))
                    if !retried
                        && accepts_when_idle(&run.transport, run.settings.startup_timeout)
                            .await
                            .is_ok() =>
                {
                    retried = true;
                    continue 'attempts;
                }
                Err(error) => {
                    let unread_since = run.transport.pacing.unread_since();
                    return Err(
                        match oracle::connect_failed_during_run(error, unread_since, true) {
                            Ok(kind) => Stopped::Found(book.found_replaying(kind, running)),
                            Err(setup) => Stopped::Setup(setup),
                        },
                    );
                }
            }
        }
        return Ok(heard);
    }
}

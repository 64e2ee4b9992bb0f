//! The intake of one finished delivery: counted, written into the delivery record, and
//! judged; what becomes of it is for the run loop to act on (a doubt to confirm alone, a
//! crowd of timed-out connects, the run's stop).

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::book::{Book, Running};
use super::seen::Seen;
use super::{Delivered, EXIT_GRACE, Fuzzing, Stopped, exit_within};
use crate::delivery_log::DeliveryLog;
use crate::oracle::{self, FindingKind};
use crate::wire::{ConnectError, Ending};

/// What a delivery task ends with.
pub(super) type TaskResult = Result<Delivered, ConnectError>;

/// A delivery to be confirmed alone before its finding counts.
pub(super) struct Doubt<'a> {
    pub(super) running: Running<'a>,
    /// When it finished.
    pub(super) done: Instant,
    /// For a delivery whose probe went unserved during its pause: the deliveries that were
    /// in flight then.
    pub(super) victims: Option<Vec<Seen>>,
    /// What it was first found to be.
    pub(super) kind: FindingKind,
    /// What it heard then.
    pub(super) delivered: super::confirm::Answered,
}

/// What became of one finished delivery.
pub(super) enum Finished<'a> {
    /// Counted; nothing wrong.
    Counted,
    /// Its response differed while other deliveries ran: to be delivered again alone.
    Doubtful(Doubt<'a>),
    /// Its connect timed out beside this many deliveries in flight: to be delivered again
    /// once the server is seen to accept alone.
    Crowded(Running<'a>, usize),
    /// The run stops (the caller aborts the other deliveries, if this has not).
    Stop(Stopped),
}

/// Takes in one finished delivery: counts it, and judges it.
pub(super) async fn finished<'a>(
    run: &mut Fuzzing<'a>,
    book: &mut Book<'a>,
    tasks: &mut JoinSet<TaskResult>,
    running: Running<'a>,
    outcome: TaskResult,
    now: Instant,
) -> Finished<'a> {
    let delivered = match outcome {
        Ok(delivered) => delivered,
        Err(error) => return connect_failed(run, book, tasks, running, error, now).await,
    };
    // A delivery the server cut short may be the crash itself; if so, the run loop sees the
    // server's exit next, with this case among the recent ones.
    book.stats.record(&delivered.counts);
    if let Some(log) = run.log.as_deref_mut() {
        log_delivery(log, &running, &delivered);
    }
    let splits = running.drawn.case.splits();
    book.stats
        .cover(running.blob.name(), splits, delivered.counts.chunks);
    if delivered.ending == Ending::ClosedByServer {
        book.trouble(now);
    }
    judged(run, book, tasks, running, delivered, now).await
}

/// A delivery whose connect failed: the server's death if it died, a crowd to judge once
/// the run has drained if the connect timed out while the server still reads, else a
/// finding (or a setup error) that stops the run.
async fn connect_failed<'a>(
    run: &mut Fuzzing<'a>,
    book: &mut Book<'a>,
    tasks: &JoinSet<TaskResult>,
    running: Running<'a>,
    error: ConnectError,
    now: Instant,
) -> Finished<'a> {
    if let Some(exit) = exit_within(run.server.as_deref_mut(), EXIT_GRACE).await {
        book.trouble(now);
        book.remember(now, running, false);
        return Finished::Stop(Stopped::Found(book.found(oracle::exited(exit))));
    }
    // The failed delivery sent nothing: it is a victim, not a suspect.
    let unread_since = run.transport.pacing.unread_since();
    // Timed out, even alone: judged once the run has drained, by a connect alone
    // within the startup timeout.
    if matches!(error, ConnectError::TimedOut(_)) && oracle::stopped_reading(unread_since).is_none()
    {
        return Finished::Crowded(running, tasks.len() + 1);
    }
    book.trouble(now);
    Finished::Stop(
        match oracle::connect_failed_during_run(error, unread_since, tasks.is_empty()) {
            Ok(kind) => Stopped::Found(book.found(kind)),
            Err(setup) => Stopped::Setup(setup),
        },
    )
}

/// Writes the delivery into the delivery record, with its pause's probe, if any: the
/// record joins them with the server's reads by port.
fn log_delivery(log: &mut DeliveryLog, running: &Running<'_>, delivered: &Delivered) {
    log.delivery(
        delivered.local_port,
        &delivered.accepted,
        running.blob.len(),
        running.blob.name(),
    );
    // A pause's probe is a connection too: joined with the server's reads by port, it
    // must be in the record.
    if let Some(probe) = &delivered.probe {
        log.delivery(
            probe.local_port,
            &probe.accepted,
            running.blob.len(),
            running.blob.name(),
        );
    }
}

/// Judges a delivery that connected: counted when nothing is wrong; a doubt to confirm
/// alone when its finding is gated (or a pause is in flight); else the finding, or the
/// server's death if it died meanwhile, stops the run.
async fn judged<'a>(
    run: &mut Fuzzing<'a>,
    book: &mut Book<'a>,
    tasks: &mut JoinSet<TaskResult>,
    running: Running<'a>,
    delivered: Delivered,
    now: Instant,
) -> Finished<'a> {
    let baseline = run.baselines.get(running.blob.name());
    let verdict = run.oracles.judge_delivery(
        &running.drawn.case,
        delivered.ending,
        &delivered.heard,
        baseline,
        delivered.neglect,
    );
    let Some(kind) = verdict else {
        if running.drawn.case.stall().is_some() {
            book.stats.stalled();
        }
        // The server rejects the blob sent whole too: nothing is tested, and the stats say so.
        if oracle::protocol_fails_whole_too(&delivered.heard.bytes, baseline) {
            book.stats.unsplit_fails();
        }
        book.remember(now, running, delivered.closed_cleanly);
        return Finished::Counted;
    };
    if matches!(kind, FindingKind::ProtocolFailure { .. }) && book.fails_whole(running.blob.name())
    {
        book.remember(now, running, delivered.closed_cleanly);
        return Finished::Counted;
    }
    let stalled = matches!(kind, FindingKind::StoppedServingOthers { .. });
    if oracle::gated(&kind) || book.stalling() {
        return Finished::Doubtful(Doubt {
            running,
            done: now,
            victims: stalled.then(|| book.victims()),
            kind,
            delivered: (delivered.ending, delivered.heard, delivered.neglect),
        });
    }
    tasks.abort_all();
    if let Some(exit) = exit_within(run.server.as_deref_mut(), EXIT_GRACE).await {
        book.remember(now, running, false);
        return Finished::Stop(Stopped::Found(book.found(oracle::exited(exit))));
    }
    Finished::Stop(Stopped::Found(book.found_in(kind, &running)))
}

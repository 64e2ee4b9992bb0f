//! The run loop: keeps `connections` deliveries in flight, one tokio task each, owned by a
//! `JoinSet`. The loop is the single owner of the run's state: it collects each task's
//! outcome into the stats, watches the server, and stops at the first finding. Tasks share
//! nothing but the blob bytes (read-only) and their own progress.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, interval_at, sleep_until};

use super::accepts::Crowd;
use super::book::{Book, Running};
use super::confirm::confirm_alone;
use super::intake::{Doubt, Finished, TaskResult, finished};
use super::queue::Queue;
use super::seen::Stood;
use super::window::Window;
use super::{
    EXIT_GRACE, FINAL_SETTLE, Progress, Stopped, Transport, exit_within, far_future, schedule,
};
use crate::case::Drawn;
use crate::config::Settings;
use crate::control::RunEnd;
use crate::control::{ProgressHook, StopHandle};
use crate::corpus::{Blob, Corpus};
use crate::delivery_log::DeliveryLog;
use crate::oracle::{self, Baseline, FindingKind, Oracles};
use crate::server::{Server, ServerEvent};
use crate::stats::{Stats, StatsCollector};

/// What the fuzzing loop needs besides the cases.
pub(crate) struct Fuzzing<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) corpus: &'a Corpus,
    pub(crate) transport: Transport,
    pub(crate) oracles: &'a Oracles,
    /// The whole-blob answers; confirming a difference may learn what varies in them.
    pub(crate) baselines: &'a mut HashMap<String, Baseline>,
    pub(crate) server: Option<&'a mut Server>,
    pub(crate) stop: Option<&'a StopHandle>,
    pub(crate) progress: Option<&'a ProgressHook>,
    pub(crate) log: Option<&'a mut DeliveryLog>,
}

/// How many deliveries that pause or read slowly may run beside the others, at least.
const BESIDE: usize = 16;

/// How long deliveries in flight may go on once a response is to be confirmed alone.
const DRAIN: Duration = Duration::from_millis(100);

/// How often the run loop asks whether the server stopped reading.
const STALL_CHECK: Duration = Duration::from_millis(250);

/// Runs the cases until they are all delivered, the budget or a stop ends the run, or a
/// finding is made.
pub(crate) async fn fuzz(mut run: Fuzzing<'_>) -> Result<(Stats, RunEnd), Stopped> {
    let settings = run.settings;
    let mut queue = Queue::new(
        schedule(run.corpus, settings),
        settings.isolate_blobs,
        run.corpus.blobs().len(),
    );
    let mut book = new_book(&run);
    let deadline = book
        .started
        .checked_add(settings.budget)
        .unwrap_or_else(far_future);
    let mut tasks: JoinSet<TaskResult> = JoinSet::new();
    let every = run.progress.map_or(Duration::from_secs(3600), |p| p.every);
    let mut ticks = interval_at(book.started + every, every);
    let stop = run.stop.cloned().unwrap_or_default();
    let mut looks = interval_at(book.started + STALL_CHECK, STALL_CHECK);
    // Responses that differed (or a check that failed, or a short answer): each is delivered
    // again alone, once the others are done, before it counts as a finding.
    let mut doubtful: Vec<Doubt<'_>> = Vec::new();
    // Deliveries still in flight then get a moment to finish, and are cut short after it.
    let mut drain_until: Option<Instant> = None;
    // Connects that timed out beside others: no delivery starts until the server is seen to
    // accept alone.
    let mut crowd: Option<Crowd> = None;
    if let Some(server) = run.server.as_ref() {
        server.arm_output_watch();
    }

    // Fewer in flight while the server queues them (only where answers are awaited).
    let mut window = Window::new(settings.connections, run.oracles.listens());
    let end = loop {
        // Pauses mid-message and slow readers run beside the others, on connections of their
        // own (at most as many more, and at least 16): one that pauses a second does not
        // hold up the run.
        while doubtful.is_empty()
            && crowd.is_none()
            && tasks
                .len()
                .saturating_sub(book.beside().min(settings.connections.max(BESIDE)))
                < window.limit()
        {
            let Some((blob, drawn)) = queue.next() else {
                break;
            };
            launch(&run, &mut book, &mut tasks, blob, drawn);
        }
        if tasks.is_empty() {
            if let Some(crowd) = crowd.take() {
                if let Err(stopped) = crowd.drained(&mut run, &mut book, &mut window).await {
                    return Err(with_doubts(stopped, &doubtful));
                }
                continue;
            }
            if doubtful.is_empty() {
                break RunEnd::CyclesDone;
            }
            drain_until = None;
            confirm_doubts(&mut run, &mut book, &mut doubtful).await?;
            // A blob whose copies keep changing each other's answers goes one at a time.
            queue.isolated.extend(book.stats.isolated().iter().cloned());
            continue;
        }
        tokio::select! {
            biased;
            event = async {
                match run.server.as_mut() {
                    Some(server) => server.event().await,
                    None => std::future::pending().await,
                }
            } => {
                tasks.abort_all();
                let kind = server_failure(run.server.as_deref_mut(), event).await;
                return Err(with_doubts(Stopped::Found(book.found(kind)), &doubtful));
            }
            () = stop.stopped() => break RunEnd::Stopped,
            () = sleep_until(drain_until.unwrap_or_else(far_future)), if drain_until.is_some() => {
                // Those still waiting for an answer would hold the confirmation up to their
                // response timeout: they are cut short, uncounted. A pause mid-message goes
                // on: its probe is still to tell.
                book.abort_all_but_stalling();
                drain_until = Some(far_future());
            }
            () = sleep_until(deadline) => break RunEnd::TimeUp,
            _ = looks.tick(), if !book.stalling() => {
                if let Some(kind) = oracle::stopped_reading(run.transport.pacing.unread_for()) {
                    tasks.abort_all();
                    return Err(with_doubts(Stopped::Found(book.found(kind)), &doubtful));
                }
            }
            _ = ticks.tick(), if run.progress.is_some() => {
                if let Some(hook) = run.progress {
                    (hook.callback)(&book.stats());
                }
            }
            Some(joined) = tasks.join_next_with_id() => {
                let (id, outcome) = match joined {
                    Ok(pair) => pair,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => {
                        // Cut short on purpose: it is delivered again later.
                        if let Some(running) = book.finish(e.id(), Instant::now()) {
                            queue.done(running.blob);
                            queue.again(running.blob, running.drawn);
                        }
                        continue;
                    }
                };
                let now = Instant::now();
                let Some(running) = book.finish(id, now) else { continue };
                queue.done(running.blob);
                if let Ok(delivered) = &outcome
                    && run.oracles.listens()
                    && !running.drawn.case.takes_its_time()
                {
                    window.answered(delivered.heard.waited, now);
                }
                match finished(&mut run, &mut book, &mut tasks, running, outcome, now).await {
                    Finished::Counted => {}
                    Finished::Doubtful(doubt) => {
                        doubtful.push(doubt);
                        drain_until.get_or_insert(now + DRAIN);
                    }
                    Finished::Crowded(running, in_flight) => {
                        // The others are cut short and delivered again later: those still
                        // in the server's listen queue would each wait out their own time.
                        queue.again(running.blob, running.drawn);
                        crowd.get_or_insert_default().add(in_flight);
                        book.abort_all_but_stalling();
                    }
                    Finished::Stop(stopped) => {
                        tasks.abort_all();
                        return Err(with_doubts(stopped, &doubtful));
                    }
                }
            }
        }
    };
    tasks.shutdown().await;
    // A crash caused by the last deliveries shows a moment after them.
    let settle = if end == RunEnd::CyclesDone {
        FINAL_SETTLE
    } else {
        Duration::ZERO
    };
    if let Some(exit) = exit_within(run.server.as_deref_mut(), settle).await {
        return Err(Stopped::Found(book.found(oracle::exited(exit))));
    }
    Ok((book.stats(), end))
}

/// The run's bookkeeping, its counters watching every blob's boundaries and records.
fn new_book<'a>(run: &Fuzzing<'a>) -> Book<'a> {
    let mut stats = StatsCollector::new(
        run.corpus.blobs().iter().map(|b| (b.name(), b.len())),
        run.transport.pacing.cycle_len(),
    );
    for blob in run.corpus.blobs() {
        stats.watch_records(blob.name(), blob.bytes());
    }
    Book::new(stats, run.settings.connections * 2)
}

/// Starts delivering `drawn` (a case of `blob`) as a task of its own, and books it.
fn launch<'a>(
    run: &Fuzzing<'a>,
    book: &mut Book<'a>,
    tasks: &mut JoinSet<TaskResult>,
    blob: &'a Blob,
    drawn: Drawn,
) {
    let listen = run
        .oracles
        .listen(run.baselines.get(blob.name()), run.transport.linger);
    let connection = run.transport.connection(blob, &drawn, listen);
    let progress = Arc::new(Progress::default());
    let task_progress = Arc::clone(&progress);
    let handle = tasks.spawn(async move { connection.run(&task_progress).await });
    let running = Running {
        blob,
        drawn,
        progress,
        started: Instant::now(),
        abort: handle.clone(),
    };
    book.running.insert(handle.id(), running);
}

/// Delivers each doubtful case again, alone: the first that fails then stops the run.
async fn confirm_doubts<'a>(
    run: &mut Fuzzing<'a>,
    book: &mut Book<'a>,
    doubtful: &mut Vec<Doubt<'a>>,
) -> Result<(), Stopped> {
    // A pause that starved the others first: their own doubts may be its doing.
    doubtful.sort_by_key(|d| d.victims.is_none());
    let mut doubts = std::mem::take(doubtful).into_iter();
    while let Some(doubt) = doubts.next() {
        match confirm_alone(run, book, doubt.running, &doubt.kind, &doubt.delivered).await {
            None => {}
            Some(Stopped::Found(mut found)) => {
                found.seen.extend(doubt.victims.unwrap_or_default());
                let rest: Vec<Doubt<'a>> = doubts.collect();
                return Err(with_doubts(Stopped::Found(found), &rest));
            }
            Some(stopped) => return Err(stopped),
        }
    }
    Ok(())
}

/// What the server's event is found to be. A panic or sanitizer line often comes just
/// before the process dies: then the death is the finding.
async fn server_failure(server: Option<&mut Server>, event: ServerEvent) -> FindingKind {
    match event {
        ServerEvent::Exited(exit) => oracle::exited(exit),
        ServerEvent::Printed(alarm) => {
            let exit = exit_within(server, EXIT_GRACE).await;
            let kind = oracle::first_of(exit, Some(alarm), None);
            kind.expect("an alarm is a finding")
        }
    }
}

/// A finding about the server as a whole (its death, its reading stopped) made while
/// deliveries wait to be confirmed alone: those are suspects too, first of all (their answers
/// already went wrong; a crash's own delivery is often among them, judged before the exit
/// was seen). A finding about one delivery's own answer keeps its culprit alone.
fn with_doubts(stopped: Stopped, doubtful: &[Doubt<'_>]) -> Stopped {
    let Stopped::Found(mut found) = stopped else {
        return stopped;
    };
    if found.seen.iter().all(|seen| seen.stood != Stood::Culprit) {
        let now = Instant::now();
        let doubts = doubtful.iter().map(|doubt| {
            doubt
                .running
                .seen(Stood::FinishedBefore(now.duration_since(doubt.done)))
        });
        // After the case being replayed alone when it showed, if any.
        let at = found
            .seen
            .iter()
            .take_while(|seen| seen.stood == Stood::Replayed)
            .count();
        found.seen.splice(at..at, doubts);
    }
    Stopped::Found(found)
}

//! The run loop: keeps `connections` deliveries in flight, one tokio task each, owned by a
//! `JoinSet`. The loop is the single owner of the run's state: it collects each task's
//! outcome into the stats, watches the server, and stops at the first finding. Tasks share
//! nothing but the blob bytes (read-only) and their own progress.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::{Instant, Interval, interval_at, sleep_until};

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
pub(crate) async fn fuzz(run: Fuzzing<'_>) -> Result<(Stats, RunEnd), Stopped> {
    let settings = run.settings;
    let queue = Queue::new(
        schedule(run.corpus, settings),
        settings.isolate_blobs,
        run.corpus.blobs().len(),
    );
    let mut looping = FuzzLoop::new(run, queue);
    let end = looping.until_end().await?;
    looping.wind_up(end).await
}

/// The run loop's state: the cases still to start, the deliveries in flight and those in
/// doubt, and the clocks it watches (shared by the steps of [`fuzz`]).
struct FuzzLoop<'a, I> {
    run: Fuzzing<'a>,
    queue: Queue<'a, I>,
    book: Book<'a>,
    /// When the budget runs out.
    deadline: Instant,
    tasks: JoinSet<TaskResult>,
    /// When to report progress.
    ticks: Interval,
    stop: StopHandle,
    /// When to ask whether the server stopped reading.
    looks: Interval,
    /// Answers that differed (or a check that failed, or a short answer): each is
    /// delivered again alone, once the others are done, before it counts as a finding.
    doubtful: Vec<Doubt<'a>>,
    /// Deliveries still in flight then get a moment to finish, and are cut short after it.
    drain_until: Option<Instant>,
    /// Connects that timed out beside others: no delivery starts until the server is seen
    /// to accept alone.
    crowd: Option<Crowd>,
    /// Fewer in flight while the server queues them (only where answers are awaited).
    window: Window,
}

impl<'a, I: Iterator<Item = (&'a Blob, Drawn)>> FuzzLoop<'a, I> {
    /// The loop about to start `queue`'s cases: its clocks started, the server's output
    /// watched.
    fn new(run: Fuzzing<'a>, queue: Queue<'a, I>) -> Self {
        let settings = run.settings;
        let book = new_book(&run);
        let deadline = book
            .started
            .checked_add(settings.budget)
            .unwrap_or_else(far_future);
        let tasks = JoinSet::new();
        let every = run.progress.map_or(Duration::from_secs(3600), |p| p.every);
        let ticks = interval_at(book.started + every, every);
        let stop = run.stop.cloned().unwrap_or_default();
        let looks = interval_at(book.started + STALL_CHECK, STALL_CHECK);
        if let Some(server) = run.server.as_ref() {
            server.arm_output_watch();
        }
        let window = Window::new(settings.connections, run.oracles.listens());
        FuzzLoop {
            run,
            queue,
            book,
            deadline,
            tasks,
            ticks,
            stop,
            looks,
            doubtful: Vec::new(),
            drain_until: None,
            crowd: None,
            window,
        }
    }

    /// Keeps deliveries starting while there is room, and takes in what happens next, until
    /// the run ends (or stops, the error).
    async fn until_end(&mut self) -> Result<RunEnd, Stopped> {
        loop {
            self.launch_while_room();
            let step = if self.tasks.is_empty() {
                self.idle().await?
            } else {
                self.next_event().await?
            };
            if let ControlFlow::Break(end) = step {
                return Ok(end);
            }
        }
    }

    /// Starts the next cases while the window has room, unless doubts wait to be confirmed
    /// or a crowd of timed-out connects to be judged.
    fn launch_while_room(&mut self) {
        let connections = self.run.settings.connections;
        // Pauses mid-message and slow readers run beside the others, on connections of their
        // own (at most as many more, and at least 16): one that pauses a second does not
        // hold up the run.
        while self.doubtful.is_empty()
            && self.crowd.is_none()
            && self
                .tasks
                .len()
                .saturating_sub(self.book.beside().min(connections.max(BESIDE)))
                < self.window.limit()
        {
            let Some((blob, drawn)) = self.queue.next() else {
                break;
            };
            launch(&self.run, &mut self.book, &mut self.tasks, blob, drawn);
        }
    }

    /// With nothing in flight: a crowd of timed-out connects is judged by a connect alone,
    /// else the doubts are confirmed alone; with neither, every case is done.
    async fn idle(&mut self) -> Result<ControlFlow<RunEnd>, Stopped> {
        if let Some(crowd) = self.crowd.take() {
            let drained = crowd
                .drained(&mut self.run, &mut self.book, &mut self.window)
                .await;
            if let Err(stopped) = drained {
                return Err(with_doubts(stopped, &self.doubtful));
            }
            return Ok(ControlFlow::Continue(()));
        }
        if self.doubtful.is_empty() {
            return Ok(ControlFlow::Break(RunEnd::CyclesDone));
        }
        self.drain_until = None;
        confirm_doubts(&mut self.run, &mut self.book, &mut self.doubtful).await?;
        // A blob whose copies keep changing each other's answers goes one at a time.
        self.queue
            .isolated
            .extend(self.book.stats.isolated().iter().cloned());
        Ok(ControlFlow::Continue(()))
    }

    /// Waits, with deliveries in flight, for what comes first, and takes it in: the
    /// server's death or alarm, a stop, the end of the drain or of the budget, the look
    /// whether the server still reads, a progress report, or a finished delivery.
    async fn next_event(&mut self) -> Result<ControlFlow<RunEnd>, Stopped> {
        tokio::select! {
            biased;
            event = server_event(self.run.server.as_deref_mut()) => {
                self.tasks.abort_all();
                let kind = server_failure(self.run.server.as_deref_mut(), event).await;
                let found = Stopped::Found(self.book.found(kind));
                return Err(with_doubts(found, &self.doubtful));
            }
            () = self.stop.stopped() => return Ok(ControlFlow::Break(RunEnd::Stopped)),
            () = sleep_until(self.drain_until.unwrap_or_else(far_future)),
                if self.drain_until.is_some() =>
            {
                // Those still waiting for an answer would hold the confirmation up to their
                // response timeout: they are cut short, uncounted. A pause mid-message goes
                // on: its probe is still to tell.
                self.book.abort_all_but_stalling();
                self.drain_until = Some(far_future());
            }
            () = sleep_until(self.deadline) => return Ok(ControlFlow::Break(RunEnd::TimeUp)),
            _ = self.looks.tick(), if !self.book.stalling() => {
                let unread_for = self.run.transport.pacing.unread_for();
                if let Some(kind) = oracle::stopped_reading(unread_for) {
                    self.tasks.abort_all();
                    let found = Stopped::Found(self.book.found(kind));
                    return Err(with_doubts(found, &self.doubtful));
                }
            }
            _ = self.ticks.tick(), if self.run.progress.is_some() => {
                if let Some(hook) = self.run.progress {
                    (hook.callback)(&self.book.stats());
                }
            }
            Some(joined) = self.tasks.join_next_with_id() => self.joined(joined).await?,
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Takes in a delivery task that ended. One cut short on purpose is delivered again
    /// later; one that finished is counted and judged: it may leave a doubt, crowd the
    /// server, or stop the run (the error).
    async fn joined(&mut self, joined: Result<(Id, TaskResult), JoinError>) -> Result<(), Stopped> {
        let (id, outcome) = match joined {
            Ok(pair) => pair,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                // Cut short on purpose: it is delivered again later.
                if let Some(running) = self.book.finish(e.id(), Instant::now()) {
                    self.queue.done(running.blob);
                    self.queue.again(running.blob, running.drawn);
                }
                return Ok(());
            }
        };
        let now = Instant::now();
        let Some(running) = self.book.finish(id, now) else {
            return Ok(());
        };
        self.queue.done(running.blob);
        if let Ok(delivered) = &outcome
            && self.run.oracles.listens()
            && !running.drawn.case.takes_its_time()
        {
            self.window.answered(delivered.heard.waited, now);
        }
        let finished = finished(
            &mut self.run,
            &mut self.book,
            &mut self.tasks,
            running,
            outcome,
            now,
        );
        match finished.await {
            Finished::Counted => {}
            Finished::Doubtful(doubt) => {
                self.doubtful.push(doubt);
                self.drain_until.get_or_insert(now + DRAIN);
            }
            Finished::Crowded(running, in_flight) => {
                // The others are cut short and delivered again later: those still in the
                // server's listen queue would each wait out their own time.
                self.queue.again(running.blob, running.drawn);
                self.crowd.get_or_insert_default().add(in_flight);
                self.book.abort_all_but_stalling();
            }
            Finished::Stop(stopped) => {
                self.tasks.abort_all();
                return Err(with_doubts(stopped, &self.doubtful));
            }
        }
        Ok(())
    }

    /// Ends the run as `end` says: the deliveries still in flight shut down, then a last
    /// look whether the server died.
    async fn wind_up(mut self, end: RunEnd) -> Result<(Stats, RunEnd), Stopped> {
        self.tasks.shutdown().await;
        // A crash caused by the last deliveries shows a moment after them.
        let settle = if end == RunEnd::CyclesDone {
            FINAL_SETTLE
        } else {
            Duration::ZERO
        };
        if let Some(exit) = exit_within(self.run.server.as_deref_mut(), settle).await {
            return Err(Stopped::Found(self.book.found(oracle::exited(exit))));
        }
        Ok((self.book.stats(), end))
    }
}

/// The server's next event; with no server to watch, never.
async fn server_event(server: Option<&mut Server>) -> ServerEvent {
    match server {
        Some(server) => server.event().await,
        None => std::future::pending().await,
    }
}

/// The run's bookkeeping, its counters watching every blob's boundaries and records.
fn new_book<'a>(run: &Fuzzing<'a>) -> Book<'a> {
    let mut stats = StatsCollector::new(
        run.corpus.blobs().iter().map(|b| (b.name(), b.len())),
        run.transport.pacing.cycle_len(),
    );
    for blob in run.corpus.blobs() {
        let parts: Vec<usize> = blob.waits().iter().map(|w| w.at).collect();
        let shape = crate::split::Shape::conversation(blob.bytes(), &parts);
        stats.watch_records(blob.name(), shape);
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

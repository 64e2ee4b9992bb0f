//! The delivery engine: keeps `connections` deliveries in flight, one tokio task each,
//! owned by a `JoinSet`. The run loop is the single owner of the run's state: it collects
//! each task's outcome into the stats, watches the server, and decides when a finding has
//! been made. Tasks share nothing but the blob bytes (read-only) and their own progress.

mod delivery;
mod pacing;
mod server_queue;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, interval_at, sleep_until, timeout};

pub(crate) use delivery::{
    ConnectError, Delivered, Delivery, Ending, Heard, Listen, Progress, ReadEnd,
};
pub(crate) use pacing::{Gap, Pacing};

use crate::case::{Case, Planned, plan};
use crate::config::Settings;
use crate::control::{ProgressHook, StopHandle};
use crate::corpus::{Blob, Corpus};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{Baseline, Oracles};
use crate::record::Recorder;
use crate::report::{FindingKind, RunEnd, Suspect, SuspectState};
use crate::server::{Exit, Server, ServerEvent};
use crate::split::Splits;
use crate::stats::{Stats, StatsCollector};

/// How long a connection that half-closed waits for the server's answer or close.
const RESPONSE_WINDOW: Duration = Duration::from_millis(50);

/// Cases that finished this shortly before the server was seen dying are suspects too: the
/// server may have crashed on the last bytes of a delivery that looked complete from our
/// side (a dying process closes its sockets before its exit is reaped).
const RECENT_WINDOW: Duration = Duration::from_millis(200);
/// How much earlier than the first sign of trouble the crash may have been.
const CRASH_SLACK: Duration = Duration::from_millis(10);
/// After a connection error, how long to wait for the server to be seen exiting before the
/// error is taken as the finding itself.
pub(crate) const EXIT_GRACE: Duration = Duration::from_millis(300);
/// After the last delivery, how long to watch for a late crash.
pub(crate) const FINAL_SETTLE: Duration = Duration::from_millis(100);

/// A bug found by the engine, before the facade adds the server's record and rerun line.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) kind: FindingKind,
    pub(crate) suspects: Vec<Suspect>,
    pub(crate) stats: Stats,
}

/// Why the engine stopped.
#[derive(Debug)]
pub(crate) enum Stopped {
    Found(Found),
    Setup(SetupError),
}

/// How each connection delivers: everything but the case itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transport {
    pub(crate) addr: SocketAddr,
    pub(crate) connect_timeout: Duration,
    pub(crate) pacing: Pacing,
    /// Half-close mode's wait for the server's answer or close.
    pub(crate) linger: Duration,
}

impl Transport {
    /// How a run with these settings reaches the server at `addr`.
    pub(crate) fn new(addr: SocketAddr, settings: &Settings) -> Self {
        Transport {
            addr,
            connect_timeout: settings.connect_timeout,
            pacing: Pacing {
                gap: settings.gap,
                epoch: Instant::now(),
                ack_limit: settings.connect_timeout,
            },
            linger: RESPONSE_WINDOW,
        }
    }

    pub(crate) fn delivery(&self, blob: &Blob, planned: &Planned, listen: Listen) -> Delivery {
        Delivery {
            addr: self.addr,
            bytes: blob.shared_bytes(),
            splits: planned.case.splits().clone(),
            fastopen: planned.fastopen,
            connect_timeout: self.connect_timeout,
            pacing: self.pacing,
            listen,
        }
    }
}

/// Delivers every blob whole, in one write, and records the responses: the baselines of
/// `expect_same_response`. At most `connections` at once; a blob whose whole delivery fails
/// to connect is a finding like any other.
pub(crate) async fn record_baselines(
    corpus: &Corpus,
    transport: Transport,
    oracles: &Oracles,
    connections: usize,
) -> Result<HashMap<String, Baseline>, (ConnectError, Case)> {
    let mut baselines = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut blobs = corpus.blobs().iter();
    loop {
        while tasks.len() < connections {
            let Some(blob) = blobs.next() else { break };
            let planned = Planned {
                case: Case::new(blob.name(), Splits::whole(blob.len())),
                iteration: 0,
                fastopen: false,
            };
            let delivery = transport.delivery(blob, &planned, oracles.baseline_listen());
            let name = blob.name().to_owned();
            tasks.spawn(async move {
                let outcome = delivery.run(&Progress::default()).await;
                (name, planned.case, outcome)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            return Ok(baselines);
        };
        let (name, case, outcome) = match joined {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => continue,
        };
        match outcome {
            Ok(delivered) => {
                let closed = delivered.heard.closed();
                baselines.insert(
                    name,
                    Baseline {
                        bytes: delivered.heard.bytes,
                        closed,
                    },
                );
            }
            Err(error) => return Err((error, case)),
        }
    }
}

/// Every case of the run, in order: round by round, each blob once per round.
pub(crate) fn schedule<'a>(
    corpus: &'a Corpus,
    settings: &'a Settings,
) -> impl Iterator<Item = (&'a Blob, Planned)> + 'a {
    let rounds = settings.cycles.unwrap_or(u64::MAX);
    (0..rounds).flat_map(move |round| {
        corpus
            .blobs()
            .iter()
            .map(move |blob| (blob, plan(blob, round, settings.drawing())))
    })
}

/// A delivery under way, as the run loop tracks it.
struct Running<'a> {
    blob: &'a Blob,
    planned: Planned,
    progress: Arc<Progress>,
    started: Instant,
}

impl Running<'_> {
    fn suspect(&self, state: SuspectState) -> Suspect {
        Suspect {
            case: self.planned.case.clone(),
            blob_origin: self.blob.origin(),
            blob_len: self.blob.len(),
            iteration: Some(self.planned.iteration),
            chunks_sent: self.progress.chunks.load(Ordering::Relaxed),
            bytes_sent: self.progress.bytes.load(Ordering::Relaxed),
            state,
        }
    }
}

/// What the run loop needs besides the cases.
pub(crate) struct Run<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) corpus: &'a Corpus,
    pub(crate) transport: Transport,
    pub(crate) oracles: &'a Oracles,
    pub(crate) baselines: &'a HashMap<String, Baseline>,
    pub(crate) server: Option<&'a mut Server>,
    pub(crate) stop: Option<&'a StopHandle>,
    pub(crate) progress: Option<&'a ProgressHook>,
    pub(crate) record: Option<&'a mut Recorder>,
}

/// The run's bookkeeping: the single owner of stats and in-flight cases.
struct Book<'a> {
    stats: StatsCollector,
    started: Instant,
    running: HashMap<Id, Running<'a>>,
    /// Finished deliveries: when, which, and whether the server closed them cleanly.
    recent: VecDeque<(Instant, Running<'a>, bool)>,
    troubles: VecDeque<Instant>,
}

impl<'a> Book<'a> {
    /// Every suspect when the server is seen dying at `now`. The crash happened no later
    /// than the first sign of trouble (a connection cut or refused) shortly before, so a
    /// suspect started before that moment and was in flight, or finished around it. A
    /// delivery the server closed cleanly before the crash is no suspect: the server was
    /// alive after reading all of it. In flight first, most recently started first.
    fn suspects(&mut self, now: Instant) -> Vec<Suspect> {
        let crash = self
            .troubles
            .iter()
            .copied()
            .find(|t| now.duration_since(*t) <= RECENT_WINDOW)
            .unwrap_or(now);
        let mut running: Vec<&Running<'a>> = self
            .running
            .values()
            .filter(|r| r.started <= crash)
            .collect();
        running.sort_by_key(|r| std::cmp::Reverse(r.started));
        let mut out: Vec<Suspect> = running
            .iter()
            .map(|r| r.suspect(SuspectState::InFlight))
            .collect();
        out.extend(
            self.recent
                .iter()
                .rev()
                .filter(|(done, r, clean)| {
                    r.started <= crash
                        && now.duration_since(*done) <= RECENT_WINDOW
                        && (!clean || *done + CRASH_SLACK >= crash)
                })
                .map(|(done, r, _)| {
                    r.suspect(SuspectState::FinishedBefore(now.duration_since(*done)))
                }),
        );
        out
    }

    /// Notes a sign of trouble: a delivery cut short by the server, or a failed connect.
    fn trouble(&mut self, at: Instant) {
        while self
            .troubles
            .front()
            .is_some_and(|t| at.duration_since(*t) > RECENT_WINDOW)
        {
            self.troubles.pop_front();
        }
        self.troubles.push_back(at);
    }

    /// Takes a finished delivery out of the running set, forgetting recent ones that are
    /// too old (or too many) to be suspects.
    fn finish(&mut self, id: Id, now: Instant, keep: usize) -> Option<Running<'a>> {
        while self.recent.len() >= keep
            || self
                .recent
                .front()
                .is_some_and(|(t, _, _)| now.duration_since(*t) > RECENT_WINDOW)
        {
            self.recent.pop_front();
        }
        self.running.remove(&id)
    }

    fn remember(&mut self, now: Instant, running: Running<'a>, clean: bool) {
        self.recent.push_back((now, running, clean));
    }

    fn stats(&self) -> Stats {
        self.stats.snapshot(self.started.elapsed())
    }

    /// A finding about one delivery's own response: that delivery is the culprit.
    fn found_in(&mut self, kind: FindingKind, culprit: &Running<'a>) -> Stopped {
        Stopped::Found(Found {
            kind,
            suspects: vec![culprit.suspect(SuspectState::Culprit)],
            stats: self.stats(),
        })
    }

    fn found(&mut self, kind: FindingKind) -> Stopped {
        let now = Instant::now();
        Stopped::Found(Found {
            kind,
            suspects: self.suspects(now),
            stats: self.stats(),
        })
    }
}

/// Waits up to `within` for the server to exit.
pub(crate) async fn exit_within(
    server: &mut Option<&mut Server>,
    within: Duration,
) -> Option<Exit> {
    let server = server.as_mut()?;
    timeout(within, server.exited()).await.ok()
}

/// Runs the cases until they are all delivered, the budget or a stop ends the run, or a
/// finding is made.
pub(crate) async fn fuzz(mut run: Run<'_>) -> Result<(Stats, RunEnd), Stopped> {
    let settings = run.settings;
    let mut cases = schedule(run.corpus, settings);
    let mut book = Book {
        stats: StatsCollector::new(
            run.corpus.blobs().iter().map(|b| (b.name(), b.len())),
            run.transport.pacing.cycle_len(),
        ),
        started: Instant::now(),
        running: HashMap::new(),
        recent: VecDeque::new(),
        troubles: VecDeque::new(),
    };
    let deadline = book
        .started
        .checked_add(settings.budget)
        .unwrap_or_else(far_future);
    let keep_recent = settings.connections * 2;
    let mut tasks: JoinSet<Result<Delivered, ConnectError>> = JoinSet::new();
    let mut exhausted = false;
    let every = run.progress.map_or(Duration::from_secs(3600), |p| p.every);
    let mut ticks = interval_at(book.started + every, every);
    let stop = run.stop.cloned().unwrap_or_default();

    // Under expect_same_response, one blob is never in flight twice at once: two copies of a
    // request on the same keys would change each other's responses.
    let exclusive = run.oracles.expect_same;
    let mut busy: HashSet<&str> = HashSet::new();
    let mut deferred: VecDeque<(&Blob, Planned)> = VecDeque::new();
    if let Some(server) = run.server.as_ref() {
        server.arm_output_watch();
    }

    let end = loop {
        while tasks.len() < settings.connections {
            let next = match deferred.iter().position(|(b, _)| !busy.contains(b.name())) {
                Some(i) => deferred.remove(i),
                None if exhausted => None,
                None => match cases.next() {
                    Some(item) => Some(item),
                    None => {
                        exhausted = true;
                        None
                    }
                },
            };
            let Some((blob, planned)) = next else { break };
            if exclusive && busy.contains(blob.name()) {
                deferred.push_back((blob, planned));
                if deferred.len() > run.corpus.blobs().len() {
                    break; // every blob is busy: wait for one to finish
                }
                continue;
            }
            if exclusive {
                busy.insert(blob.name());
            }
            let listen = run
                .oracles
                .listen(run.baselines.get(blob.name()), run.transport.linger);
            let delivery = run.transport.delivery(blob, &planned, listen);
            let progress = Arc::new(Progress::default());
            let task_progress = Arc::clone(&progress);
            let handle = tasks.spawn(async move { delivery.run(&task_progress).await });
            book.running.insert(
                handle.id(),
                Running {
                    blob,
                    planned,
                    progress,
                    started: Instant::now(),
                },
            );
        }
        if tasks.is_empty() {
            break RunEnd::CyclesDone;
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
                let kind = match event {
                    ServerEvent::Exited(exit) => exit.finding(),
                    // A panic or sanitizer line often comes just before the process dies:
                    // then the death is the finding.
                    ServerEvent::Printed(alarm) => match exit_within(&mut run.server, EXIT_GRACE).await {
                        Some(exit) => exit.finding(),
                        None => FindingKind::OutputMatched {
                            stream: alarm.stream,
                            line: alarm.line,
                            pattern: alarm.pattern,
                        },
                    },
                };
                return Err(book.found(kind));
            }
            () = stop.stopped() => break RunEnd::Stopped,
            () = sleep_until(deadline) => break RunEnd::TimeUp,
            _ = ticks.tick(), if run.progress.is_some() => {
                if let Some(hook) = run.progress {
                    (hook.callback)(&book.stats());
                }
            }
            Some(joined) = tasks.join_next_with_id() => {
                let (id, outcome) = match joined {
                    Ok(pair) => pair,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => continue,
                };
                let now = Instant::now();
                let Some(running) = book.finish(id, now, keep_recent) else { continue };
                busy.remove(running.blob.name());
                match outcome {
                    Ok(delivered) => {
                        // A delivery the server cut short may be the crash itself; if so,
                        // the event arm above sees it next, with this case among the recent.
                        book.stats.record(&delivered.counts);
                        if let Some(record) = run.record.as_deref_mut() {
                            record.delivery(delivered.local_port, &delivered.accepted, running.blob.len(), running.blob.name());
                        }
                        book.stats.cover(running.blob.name(), running.planned.case.splits(), delivered.counts.chunks);
                        if delivered.ending == Ending::ClosedByServer {
                            book.trouble(now);
                        }
                        let verdict = (delivered.ending != Ending::ClosedEarly)
                            .then(|| {
                                run.oracles.judge(
                                    &running.planned.case,
                                    &delivered.heard,
                                    run.baselines.get(running.blob.name()),
                                )
                            })
                            .flatten();
                        if let Some(kind) = verdict {
                            tasks.abort_all();
                            if let Some(exit) = exit_within(&mut run.server, EXIT_GRACE).await {
                                book.remember(now, running, false);
                                return Err(book.found(exit.finding()));
                            }
                            return Err(book.found_in(kind, &running));
                        }
                        book.remember(now, running, delivered.closed_cleanly);
                    }
                    Err(error) => {
                        book.trouble(now);
                        if let Some(exit) = exit_within(&mut run.server, EXIT_GRACE).await {
                            book.remember(now, running, false);
                            tasks.abort_all();
                            return Err(book.found(exit.finding()));
                        }
                        tasks.abort_all();
                        // The failed delivery sent nothing: it is a victim, not a suspect.
                        return Err(match error {
                            ConnectError::Refused(e) => {
                                book.found(FindingKind::ConnectRefused { error: e.to_string() })
                            }
                            ConnectError::TimedOut(after) => {
                                book.found(FindingKind::ConnectTimeout { after })
                            }
                            ConnectError::Local(e) => Stopped::Setup(local_error(e)),
                        });
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
    if let Some(exit) = exit_within(&mut run.server, settle).await {
        return Err(book.found(exit.finding()));
    }
    Ok((book.stats(), end))
}

/// The harness's own side could not connect: not a finding.
pub(crate) fn local_error(e: std::io::Error) -> SetupError {
    SetupError::new(
        SetupErrorKind::Harness,
        format!(
            "the harness could not open a connection: {e}; lower the connection count \
             (.connections / --num-conns) or raise the open-file limit (ulimit -n)"
        ),
    )
    .with_source(e)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

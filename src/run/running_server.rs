//! A server kept up across many single deliveries, for property tests: the test chooses the
//! split pattern (from [`splits`](crate::splits)), the target delivers exactly those chunks
//! and judges the answer by every oracle, restarting the server when a case killed it.
//!
//! The target owns a thread of its own with its own runtime: the server is spawned from that
//! thread (so it dies with it), and `deliver` works from plain and async tests alike.

use std::fmt;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::baselines::take_baselines;
use super::plan::Plan;
use super::rig::Rig;
use super::thread;
use crate::case::Case;
use crate::config::Settings;
use crate::corpus::{Blob, Corpus};
use crate::engine::{Found, Seen, Stood, Stopped};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{Baseline, Response};
use crate::report::{Failure, Finding, Rerun};
use crate::split::Splits;
use crate::stats::StatsCollector;

/// What a delivery through a [`RunningServer`] got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryResult {
    response: Response,
    chunks: usize,
}

impl DeliveryResult {
    /// What the server answered.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// Chunks written.
    pub fn chunks(&self) -> usize {
        self.chunks
    }
}

/// Where the target's thread sends a delivery's result: a thread waiting on it, or a task.
enum Reply {
    Blocking(mpsc::Sender<Result<DeliveryResult, Failure>>),
    Async(tokio::sync::oneshot::Sender<Result<DeliveryResult, Failure>>),
}

impl Reply {
    fn send(self, result: Result<DeliveryResult, Failure>) {
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

struct Request {
    blob: Blob,
    case: Case,
    /// The caller gave the bytes and the splits (a property test): a finding says to deliver
    /// them again, since no run knows this blob by name.
    given: bool,
    reply: Reply,
}

/// How a finding on bytes the caller gave says to replay it.
const DELIVER_AGAIN: &str = "{case}: deliver the same bytes with these splits again (a property test keeps its failing input, proptest in a `.proptest-regressions` file beside the test's source, and tries it first)";

/// A running server that takes one delivery at a time. Made by [`Stutter::start`](crate::Stutter::start); stops the
/// server when dropped.
pub struct RunningServer {
    requests: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Request>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer").finish_non_exhaustive()
    }
}

impl RunningServer {
    pub(crate) fn start(plan: &Plan) -> Result<RunningServer, Failure> {
        let (requests, inbox) = tokio::sync::mpsc::unbounded_channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), Failure>>();
        let plan = plan.clone();
        let caller = std::thread::current().name().map(str::to_owned);
        let worker = thread::named("stutterfuzz-target")
            .spawn(move || match thread::runtime() {
                Ok(runtime) => {
                    runtime.block_on(serve(&plan, caller.as_deref(), inbox, ready_tx));
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error.into()));
                }
            })
            .map_err(|e| thread::thread_error("target", e))?;
        let target = RunningServer {
            requests: Mutex::new(Some(requests)),
            worker: Mutex::new(Some(worker)),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(target),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(gone("the target's thread ended while starting")),
        }
    }

    /// Sends `blob` in exactly these chunks on a fresh connection and returns what the
    /// server answered, or the finding if the case failed (the server died, refused,
    /// printed an alarming line, or a response oracle objected). A server that died is
    /// restarted before the next delivery. Chunks adding up to less than the blob close the
    /// connection early after them.
    ///
    /// # Errors
    /// [`Failure::Finding`] for a failing case, [`Failure::Setup`] when the chunks do not fit
    /// the blob or the server cannot be restarted.
    ///
    /// This blocks the calling thread until the delivery is judged: from async code, use
    /// [`deliver_async`](Self::deliver_async). On the only thread of a current-thread
    /// runtime it is refused at once (a server on that runtime could not answer).
    pub fn deliver(
        &self,
        blob: impl AsRef<[u8]>,
        splits: &Splits,
    ) -> Result<DeliveryResult, Failure> {
        let (blob, case) = unnamed(blob.as_ref(), splits);
        self.blocking(&blob, &case, true)
    }

    /// Delivers `case` of `blob` as [`deliver`](Self::deliver) does: its chunks, its slow
    /// reads, its conversation's waits.
    pub(crate) fn deliver_case(&self, blob: &Blob, case: &Case) -> Result<DeliveryResult, Failure> {
        self.blocking(blob, case, false)
    }

    fn blocking(&self, blob: &Blob, case: &Case, given: bool) -> Result<DeliveryResult, Failure> {
        thread::may_block("RunningServer::deliver", "deliver_async")?;
        let (reply, answer) = mpsc::channel();
        self.send(blob, case, given, Reply::Blocking(reply))?;
        answer
            .recv()
            .unwrap_or_else(|_| Err(gone("the target has stopped")))
    }

    /// Like [`deliver`](Self::deliver), without blocking the calling thread: for async tests.
    ///
    /// # Errors
    /// As [`deliver`](Self::deliver).
    pub async fn deliver_async(
        &self,
        blob: impl AsRef<[u8]>,
        splits: &Splits,
    ) -> Result<DeliveryResult, Failure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (blob, case) = unnamed(blob.as_ref(), splits);
        self.send(&blob, &case, true, Reply::Async(reply))?;
        answer
            .await
            .unwrap_or_else(|_| Err(gone("the target has stopped")))
    }

    fn send(&self, blob: &Blob, case: &Case, given: bool, reply: Reply) -> Result<(), Failure> {
        let request = Request {
            given,
            blob: blob.clone(),
            case: case.clone(),
            reply,
        };
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(request).is_ok());
        if sent {
            Ok(())
        } else {
            Err(gone("the target has stopped"))
        }
    }

    /// Stops the server and the target's thread (dropping the target does the same).
    pub fn stop(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(worker) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = worker.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bytes given without a name, as a blob and case named `blob`.
fn unnamed(bytes: &[u8], splits: &Splits) -> (Blob, Case) {
    let blob = Blob::new("blob", bytes);
    let case = Case::new(blob.name(), splits.clone());
    (blob, case)
}

fn gone(why: &str) -> Failure {
    SetupError::new(SetupErrorKind::Harness, why).into()
}

/// The target's thread: start the server, then answer requests until the sender is gone.
async fn serve(
    plan: &Plan,
    caller: Option<&str>,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<Request>,
    ready: mpsc::Sender<Result<(), Failure>>,
) {
    let settings = match plan.settings(Duration::MAX) {
        Ok(settings) => settings,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let mut rig = match Rig::start(plan, &settings).await {
        Ok(rig) => rig,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut target = Served {
        rerun: plan.rerun(caller),
        same_as_whole: plan.oracles.same_as_whole,
        settings: &settings,
        baselines: Vec::new(),
    };
    while let Some(request) = inbox.recv().await {
        let result = target
            .deliver(&mut rig, &request.blob, request.case, request.given)
            .await;
        request.reply.send(result);
    }
    rig.stop().await;
}

/// What the target's thread keeps between deliveries.
struct Served<'a> {
    rerun: Rerun,
    same_as_whole: bool,
    settings: &'a Settings,
    /// The whole-blob response of each blob delivered so far, under `AnswerOracle::same`.
    baselines: Vec<(Vec<u8>, Baseline)>,
}

impl Served<'_> {
    fn finding(&self, found: Found, rig: &Rig<'_>, rerun: Rerun) -> Failure {
        Finding::new(
            found.kind,
            found.seen,
            found.stats,
            self.settings.seed,
            rig.transport().describe(),
            rerun,
        )
        .into()
    }

    /// The whole-blob response of `blob`, taken on its first delivery.
    async fn baseline(
        &mut self,
        rig: &mut Rig<'_>,
        blob: &Blob,
    ) -> Result<Option<Baseline>, Failure> {
        if !self.same_as_whole {
            return Ok(None);
        }
        if let Some((_, baseline)) = self.baselines.iter().find(|(b, _)| b == blob.bytes()) {
            return Ok(Some(baseline.clone()));
        }
        let one = Corpus::from_blobs(vec![blob.clone()]);
        let mut taken = match take_baselines(rig, &one, self.settings.connections).await {
            Ok(taken) => taken,
            Err(Stopped::Found(found)) => {
                return Err(self.finding(found, rig, self.rerun.clone()));
            }
            Err(Stopped::Setup(e)) => return Err(e.into()),
        };
        let baseline = taken
            .remove(blob.name())
            .unwrap_or_else(|| Baseline::new(Vec::new(), false));
        self.baselines
            .push((blob.bytes().to_vec(), baseline.clone()));
        Ok(Some(baseline))
    }

    async fn deliver(
        &mut self,
        rig: &mut Rig<'_>,
        blob: &Blob,
        case: Case,
        given: bool,
    ) -> Result<DeliveryResult, Failure> {
        let splits = case.splits();
        if splits.total() > blob.len() {
            return Err(SetupError::new(
                SetupErrorKind::Replay,
                format!(
                    "the chunks {splits} add up to {} bytes, more than the blob's {}",
                    splits.total(),
                    blob.len()
                ),
            )
            .into());
        }
        let baseline = self.baseline(rig, blob).await?;
        let started = std::time::Instant::now();
        let tried = rig.try_case(&case, blob, baseline.as_ref()).await?;
        let Some(kind) = tried.failure else {
            return Ok(DeliveryResult {
                response: tried
                    .response
                    .unwrap_or_else(|| Response::new(Vec::new(), true)),
                chunks: tried.counts.chunks as usize,
            });
        };
        // What this delivery sent is what the finding counts.
        let cycle = rig.transport().pacing.cycle_len();
        let mut stats = StatsCollector::new([(blob.name(), blob.len())], cycle);
        stats.record(&tried.counts);
        stats.cover(blob.name(), case.splits(), tried.counts.chunks);
        let suspect = Seen::new(case, blob, Stood::Culprit)
            .sent(tried.counts.chunks as usize, tried.counts.bytes as usize);
        let found = Found {
            kind,
            seen: vec![suspect],
            stats: stats.snapshot(started.elapsed()),
        };
        let rerun = if given {
            Rerun::from_template(DELIVER_AGAIN)
        } else {
            self.rerun.clone()
        };
        Err(self.finding(found, rig, rerun))
    }
}

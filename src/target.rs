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

use crate::case::Case;
use crate::config::{Settings, resolve_addr};
use crate::corpus::{Blob, Corpus};
use crate::engine::{Stopped, Transport};
use crate::error::{Failure, SetupError, SetupErrorKind};
use crate::oracle::{Baseline, Response};
use crate::probe::Probe;
use crate::report::{Finding, Rerun, Suspect, SuspectState};
use crate::session;
use crate::split::Splits;
use crate::stats::Stats;
use crate::stutter::Stutter;

/// What a delivery through a [`Target`] got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    response: Response,
    chunks: usize,
}

impl Delivery {
    /// What the server answered.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// Chunks written.
    pub fn chunks(&self) -> usize {
        self.chunks
    }
}

enum Request {
    Deliver {
        bytes: Vec<u8>,
        splits: Splits,
        reply: mpsc::Sender<Result<Delivery, Failure>>,
    },
}

/// A running server that takes one delivery at a time. Made by [`Stutter::start`]; stops the
/// server when dropped.
pub struct Target {
    requests: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Request>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").finish_non_exhaustive()
    }
}

impl Target {
    pub(crate) fn start(stutter: &Stutter) -> Result<Target, Failure> {
        let (requests, inbox) = tokio::sync::mpsc::unbounded_channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), Failure>>();
        let stutter = stutter.clone();
        let caller = std::thread::current().name().map(str::to_owned);
        let worker = std::thread::Builder::new()
            .name("stutterfuzz-target".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let error = SetupError::new(
                            SetupErrorKind::Harness,
                            format!("cannot start the tokio runtime: {e}"),
                        );
                        let _ = ready_tx.send(Err(error.into()));
                        return;
                    }
                };
                runtime.block_on(serve(&stutter, caller.as_deref(), inbox, ready_tx));
            })
            .map_err(|e| {
                Failure::from(SetupError::new(
                    SetupErrorKind::Harness,
                    format!("cannot start the target's thread: {e}"),
                ))
            })?;
        let target = Target {
            requests: Mutex::new(Some(requests)),
            worker: Mutex::new(Some(worker)),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(target),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(SetupError::new(
                SetupErrorKind::Harness,
                "the target's thread ended while starting",
            )
            .into()),
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
    pub fn deliver(&self, blob: impl AsRef<[u8]>, splits: &Splits) -> Result<Delivery, Failure> {
        let (reply, answer) = mpsc::channel();
        let request = Request::Deliver {
            bytes: blob.as_ref().to_vec(),
            splits: splits.clone(),
            reply,
        };
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| tx.send(request).is_ok())
            .unwrap_or(false);
        let gone = || {
            Failure::from(SetupError::new(
                SetupErrorKind::Harness,
                "the target has stopped",
            ))
        };
        if !sent {
            return Err(gone());
        }
        answer.recv().unwrap_or_else(|_| Err(gone()))
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

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The target's thread: start the server, then answer requests until the sender is gone.
async fn serve(
    stutter: &Stutter,
    caller: Option<&str>,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<Request>,
    ready: mpsc::Sender<Result<(), Failure>>,
) {
    let started = async {
        let settings = Settings::resolve(&stutter.requested, Duration::MAX, session::env_var)?;
        let addr = resolve_addr(&stutter.addr, stutter.port_zero())?;
        Ok::<_, SetupError>((settings, addr))
    }
    .await;
    let (settings, addr) = match started {
        Ok(pair) => pair,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let transport = Transport::new(addr, &settings);
    let mut probe = match Probe::start(
        stutter.launch(),
        stutter.picks_port(),
        &settings,
        stutter.output.clone(),
        transport,
        &stutter.oracles,
    )
    .await
    {
        Ok(probe) => probe,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut baselines: Vec<(Vec<u8>, Baseline)> = Vec::new();
    while let Some(Request::Deliver {
        bytes,
        splits,
        reply,
    }) = inbox.recv().await
    {
        let result = deliver_one(
            stutter,
            caller,
            &settings,
            &mut probe,
            &mut baselines,
            bytes,
            splits,
        )
        .await;
        let _ = reply.send(result);
    }
    probe.stop().await;
}

async fn deliver_one(
    stutter: &Stutter,
    caller: Option<&str>,
    settings: &Settings,
    probe: &mut Probe<'_>,
    baselines: &mut Vec<(Vec<u8>, Baseline)>,
    bytes: Vec<u8>,
    splits: Splits,
) -> Result<Delivery, Failure> {
    if splits.total() > bytes.len() {
        return Err(SetupError::new(
            SetupErrorKind::Replay,
            format!(
                "the chunks {splits} add up to {} bytes, more than the blob's {}",
                splits.total(),
                bytes.len()
            ),
        )
        .into());
    }
    let blob = Blob::new("blob", bytes);
    let finding = |kind, suspects, probe: &Probe<'_>| -> Failure {
        Finding {
            kind,
            suspects,
            seed: settings.seed,
            addr: probe.transport().addr.to_string(),
            stats: Stats::default(),
            server: None,
            rerun: Rerun(stutter.rerun_template(caller)),
            replay: None,
            narrowed: None,
            regression: None,
            notes: Vec::new(),
        }
        .into()
    };
    let baseline = if stutter.oracles.expect_same {
        match baselines.iter().find(|(b, _)| b.as_slice() == blob.bytes()) {
            Some((_, baseline)) => Some(baseline.clone()),
            None => {
                let one = Corpus::from_blobs(vec![blob.clone()]);
                let mut recorded =
                    match session::record_baselines(stutter, probe, settings, &one).await {
                        Ok(recorded) => recorded,
                        Err(Stopped::Found(found)) => {
                            return Err(finding(found.kind, found.suspects, probe));
                        }
                        Err(Stopped::Setup(e)) => return Err(e.into()),
                    };
                let baseline = recorded.remove(blob.name()).unwrap_or(Baseline {
                    bytes: Vec::new(),
                    closed: false,
                });
                baselines.push((blob.bytes().to_vec(), baseline.clone()));
                Some(baseline)
            }
        }
    } else {
        None
    };
    let case = Case::new(blob.name(), splits);
    let probed = probe.try_case(&case, &blob, baseline.as_ref()).await?;
    match probed.failure {
        None => Ok(Delivery {
            response: probed
                .response
                .unwrap_or_else(|| Response::new(Vec::new(), true)),
            chunks: probed.counts.chunks as usize,
        }),
        Some(kind) => {
            let suspect = Suspect {
                case: case.clone(),
                blob_origin: "the blob given to deliver".to_owned(),
                blob_len: blob.len(),
                iteration: None,
                chunks_sent: probed.counts.chunks as usize,
                bytes_sent: probed.counts.bytes as usize,
                state: SuspectState::Culprit,
            };
            Err(finding(kind, vec![suspect], probe))
        }
    }
}

//! The [`Stutter`] facade: a builder that stores plain data, and the two entry points,
//! [`Stutter::run_for`] (panics with the report, for tests) over
//! [`Stutter::try_run_for`] (returns it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::case::Case;
use crate::config::{Requested, Settings, resolve_addr};
use crate::control::{ProgressHook, StopHandle};
use crate::corpus::{Blob, BlobSummary, Corpus};
use crate::engine::{self, Found, Pacing, Run, Stopped, Transport};
use crate::error::{Failure, SetupError, SetupErrorKind};
use crate::replay;
use crate::report::{Finding, Report, Rerun, RunEnd, ServerRecord};
use crate::rng::Seed;
use crate::server::{ServerProcess, ServerSpec};
use crate::stats::Stats;

/// How long to keep reading after the last chunk for the server's answer or close.
const RESPONSE_WINDOW: Duration = Duration::from_millis(50);

/// A packet-boundary fuzzing run against one TCP server.
///
/// Build it with the setters (each documents its default), then call
/// [`run_for`](Self::run_for) in a test or [`try_run_for`](Self::try_run_for) to handle
/// the outcome yourself. The builder holds only data, so one `Stutter` can run many times.
///
/// ```no_run
/// use std::{process::Command, time::Duration};
/// use stutterfuzz::Stutter;
///
/// let mut server = Command::new("target/debug/myserver");
/// server.args(["--listen", "{addr}"]);
/// let fuzz = Stutter::new("127.0.0.1:0")
///     .server(server)
///     .blobs("fixtures/blobs")
///     .cycles(500);
/// let report = fuzz.run_for(Duration::from_secs(10));
/// println!("{report}");
/// ```
#[derive(Clone, Debug)]
pub struct Stutter {
    addr: String,
    server: Option<ServerSpec>,
    blob_dirs: Vec<PathBuf>,
    inline: Vec<Blob>,
    requested: Requested,
    stop: Option<StopHandle>,
    progress: Option<ProgressHook>,
    rerun: Option<String>,
}

impl Stutter {
    /// Fuzzes the server at `addr`: `"127.0.0.1:6789"`, `"[::1]:6789"`, `"localhost:6789"`
    /// (a `SocketAddr` works too). Port 0 lets the harness pick a free loopback port for
    /// the server it spawns. The address is checked when the run starts.
    pub fn new(addr: impl std::fmt::Display) -> Self {
        Stutter {
            addr: addr.to_string(),
            server: None,
            blob_dirs: Vec::new(),
            inline: Vec::new(),
            requested: Requested::default(),
            stop: None,
            progress: None,
            rerun: None,
        }
    }

    /// Spawns this server before fuzzing and stops it after. `{addr}`, `{host}` and
    /// `{port}` in its arguments become the address it must listen on, also given in
    /// `STUTTERFUZZ_ADDR` and `STUTTERFUZZ_PORT`. It runs in its own process group, its
    /// output is kept (bounded) for the report, and the run starts once the address
    /// accepts connections. Default: no server is spawned; one must already listen.
    pub fn server(mut self, command: Command) -> Self {
        self.server = Some(ServerSpec::from_command(&command));
        self
    }

    /// Sends every regular file in `dir` (names starting with `.` skipped), sorted by name.
    /// May be called more than once.
    pub fn blobs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.blob_dirs.push(dir.into());
        self
    }

    /// Adds one blob given in code. Names must be unique across all blobs.
    pub fn blob(mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.inline.push(Blob::new(name, bytes));
        self
    }

    /// Delivers each blob `n` times, each with a fresh split pattern. Default: no limit,
    /// the run lasts its whole time budget.
    pub fn cycles(mut self, n: u64) -> Self {
        self.requested.cycles = Some(n);
        self
    }

    /// How many connections are in flight at once. Default: 100.
    pub fn connections(mut self, n: usize) -> Self {
        self.requested.connections = n;
        self
    }

    /// How long to wait after a chunk is acknowledged before sending the next, so the
    /// server reads each chunk on its own. Default: 2 ms.
    pub fn pause(mut self, pause: Duration) -> Self {
        self.requested.pause = pause;
        self
    }

    /// Paces like the original tool's `--cycle-ms`: a fixed cycle shared by all
    /// connections, each sending at most one chunk per cycle (after its previous chunk is
    /// acknowledged). Replaces [`pause`](Self::pause). Default: no fixed cycle.
    pub fn cycle(mut self, every: Duration) -> Self {
        self.requested.cycle = Some(every);
        self
    }

    /// Closes a connection early, before any chunk, with chance 1 in `one_in`; 0 never
    /// does. Default: 500, as the original tool.
    pub fn close_chance(mut self, one_in: u32) -> Self {
        self.requested.chances.close = one_in;
        self
    }

    /// Sends the first chunk with TCP fast open (in the SYN, where the kernel allows it)
    /// with chance 1 in `one_in`; 0 never does. Default: 2, as the original tool.
    pub fn fastopen_chance(mut self, one_in: u32) -> Self {
        self.requested.chances.fastopen = one_in;
        self
    }

    /// The seed of the split patterns. Default: a random one, printed in every report.
    /// `STUTTERFUZZ_SEED` overrides it.
    pub fn seed(mut self, seed: u64) -> Self {
        self.requested.seed = Some(Seed::new(seed));
        self
    }

    /// How long the spawned server may take to accept connections. Default: 10 s.
    pub fn startup_timeout(mut self, limit: Duration) -> Self {
        self.requested.startup_timeout = limit;
        self
    }

    /// How long a connect may take before the server counts as no longer accepting.
    /// Default: 5 s.
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.requested.connect_timeout = limit;
        self
    }

    /// How long the server gets to exit after SIGTERM before its process group gets
    /// SIGKILL. Default: 2 s.
    pub fn stop_timeout(mut self, grace: Duration) -> Self {
        self.requested.stop_grace = grace;
        self
    }

    /// Delivers only this case (a case string from a report), up to 5 times, and fails if
    /// any attempt fails. `STUTTERFUZZ_REPLAY` overrides it. Default: fuzz.
    pub fn replay(mut self, case: impl Into<String>) -> Self {
        self.requested.replay = Some(case.into());
        self
    }

    /// Lets another thread stop the run cleanly. Default: none.
    pub fn stop_handle(mut self, stop: StopHandle) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Calls `callback` with the stats every `every` while fuzzing. Default: none. The
    /// library itself never prints.
    pub fn on_progress(
        mut self,
        every: Duration,
        callback: impl Fn(&Stats) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(ProgressHook {
            every: every.max(Duration::from_millis(10)),
            callback: Arc::new(callback),
        });
        self
    }

    /// The command a report shows for replaying a case, with `{case}` where the quoted case
    /// string goes. Default: `STUTTERFUZZ_REPLAY={case} cargo test <this test's name>`.
    pub fn rerun_command(mut self, template: impl Into<String>) -> Self {
        self.rerun = Some(template.into());
        self
    }

    /// The first `n` cases this configuration delivers, in order, without touching the
    /// network: what a seed means, made visible.
    ///
    /// # Errors
    /// A setup error if the blobs or settings are unusable.
    pub fn preview(&self, n: usize) -> Result<Vec<Case>, SetupError> {
        let settings = Settings::resolve(&self.requested, Duration::MAX, env_var)?;
        let corpus = self.load_corpus()?;
        Ok(engine::schedule(&corpus, &settings)
            .take(n)
            .map(|(_, planned)| planned.case)
            .collect())
    }

    /// Loads the blobs and says how many there are and how large, without running.
    ///
    /// # Errors
    /// A setup error if the blobs are unusable (missing or empty directory, unreadable file).
    pub fn blob_summary(&self) -> Result<BlobSummary, SetupError> {
        self.load_corpus().map(|corpus| corpus.summary())
    }

    /// Runs until every blob had its cycles or `budget` elapsed (`STUTTERFUZZ_DURATION`
    /// overrides it), and returns the report.
    ///
    /// # Panics
    /// With the full report when a bug is found, and with the setup error when the run
    /// cannot start (bad blobs, bad address, a server that does not start). The server is
    /// stopped before the panic.
    #[track_caller]
    pub fn run_for(&self, budget: Duration) -> Report {
        match self.try_run_for(budget) {
            Ok(report) => report,
            Err(failure) => fail(failure),
        }
    }

    /// Like [`run_for`](Self::run_for), but returns what went wrong instead of panicking.
    /// Works in a plain `#[test]` and inside a tokio runtime: the run has a thread and a
    /// runtime of its own.
    ///
    /// # Errors
    /// [`Failure::Finding`] when the server misbehaved, [`Failure::Setup`] when the run
    /// could not start or go on.
    pub fn try_run_for(&self, budget: Duration) -> Result<Report, Failure> {
        let caller = std::thread::current().name().map(str::to_owned);
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("stutterfuzz".to_owned())
                .spawn_scoped(scope, || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| harness_error("cannot start the tokio runtime", e))?;
                    runtime.block_on(self.run(budget, caller.as_deref()))
                })
                .map_err(|e| harness_error("cannot start the run's thread", e))?;
            match worker.join() {
                Ok(outcome) => outcome,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    fn load_corpus(&self) -> Result<Corpus, SetupError> {
        Corpus::load(&self.blob_dirs, &self.inline)
    }

    async fn run(&self, budget: Duration, caller: Option<&str>) -> Result<Report, Failure> {
        let settings = Settings::resolve(&self.requested, budget, env_var)?;
        let corpus = self.load_corpus()?;
        let replay_blob = match &settings.replay {
            Some(case) => Some(replay::blob_for(case, &corpus)?),
            None => None,
        };
        let addr = resolve_addr(&self.addr, self.server.is_some())?;
        let mut server = match &self.server {
            Some(spec) => {
                let mut process = ServerProcess::spawn(spec, addr)?;
                process.wait_ready(addr, settings.startup_timeout).await?;
                Some(process)
            }
            None => {
                check_listening(addr, settings.connect_timeout).await?;
                None
            }
        };
        let transport = Transport {
            addr,
            connect_timeout: settings.connect_timeout,
            pacing: Pacing {
                gap: settings.gap,
                epoch: tokio::time::Instant::now(),
                ack_limit: settings.connect_timeout,
            },
            linger: RESPONSE_WINDOW,
        };
        let outcome = match (&settings.replay, replay_blob) {
            (Some(case), Some(blob)) => {
                replay::replay(case, blob, transport, server.as_mut(), replay::ATTEMPTS)
                    .await
                    .map(|stats| (stats, RunEnd::ReplayPassed))
                    .map_err(|(stopped, attempt)| (stopped, Some(attempt)))
            }
            _ => engine::fuzz(Run {
                settings: &settings,
                corpus: &corpus,
                transport,
                server: server.as_mut(),
                stop: self.stop.as_ref(),
                progress: self.progress.as_ref(),
            })
            .await
            .map_err(|stopped| (stopped, None)),
        };
        let (server_record, died_at_stop) = match server.as_mut() {
            Some(process) => {
                let died = process.stop(settings.stop_grace).await;
                let record = ServerRecord {
                    command: process.command_line().to_owned(),
                    pid: process.pid(),
                    stdout: process.stdout(),
                    stderr: process.stderr(),
                };
                (Some(record), died)
            }
            None => (None, None),
        };
        let finding = |found: Found, replay: Option<u32>| Finding {
            kind: found.kind,
            suspects: found.suspects,
            seed: settings.seed,
            addr: addr.to_string(),
            stats: found.stats,
            server: server_record.clone(),
            rerun: Rerun(self.rerun_template(caller)),
            replay: replay.map(|attempt| (attempt, replay::ATTEMPTS)),
        };
        match outcome {
            Ok((stats, end)) => {
                if let Some(status) = died_at_stop {
                    let found = Found {
                        kind: crate::report::FindingKind::ServerDied { status },
                        suspects: Vec::new(),
                        stats,
                    };
                    return Err(finding(found, None).into());
                }
                Ok(Report {
                    stats,
                    seed: settings.seed,
                    end,
                    replayed: settings.replay.clone().map(|c| (c, replay::ATTEMPTS)),
                    server_pid: server_record.as_ref().map(|s| s.pid),
                })
            }
            Err((Stopped::Found(found), replay)) => Err(finding(found, replay).into()),
            Err((Stopped::Setup(error), _)) => Err(error.into()),
        }
    }

    fn rerun_template(&self, caller: Option<&str>) -> String {
        if let Some(template) = &self.rerun {
            return template.clone();
        }
        match caller {
            Some(test) if test != "main" => {
                format!("STUTTERFUZZ_REPLAY={{case}} cargo test {test}")
            }
            _ => {
                let argv: Vec<String> = std::env::args().collect();
                format!("STUTTERFUZZ_REPLAY={{case}} {}", argv.join(" "))
            }
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn harness_error(what: &str, e: std::io::Error) -> Failure {
    SetupError::new(SetupErrorKind::Harness, format!("{what}: {e}"))
        .with_source(e)
        .into()
}

/// Without a spawned server, something must already listen.
async fn check_listening(addr: SocketAddr, limit: Duration) -> Result<(), SetupError> {
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(SetupError::new(
            SetupErrorKind::NotListening,
            format!(
                "nothing accepts connections on {addr} ({e}): start the server first, or let stutterfuzz start it (.server / --server)"
            ),
        )
        .with_source(e)),
        Err(_) => Err(SetupError::new(
            SetupErrorKind::NotListening,
            format!(
                "{addr} did not accept a connection within {}: start the server first, or let stutterfuzz start it (.server / --server)",
                humantime::format_duration(limit)
            ),
        )),
    }
}

/// Panics with the failure, from a named function so the message and the caller's line
/// (through `#[track_caller]`) are what the test output shows.
#[track_caller]
fn fail(failure: Failure) -> ! {
    panic!("{failure}")
}

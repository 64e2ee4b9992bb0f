//! The [`Stutter`] facade: a builder that stores plain data (a [`Plan`] for the run layer),
//! with its setters here and its entry points in [`entry`]: [`Stutter::run_for`] (panics
//! with the report, for tests) over [`Stutter::try_run_for`] (returns it), and their async
//! twins.

mod answer_oracle;
mod deprecated;
mod entry;
mod options;

pub use answer_oracle::AnswerOracle;

pub use options::{Chance, Disruptions, OutputRules, Pacing, Shrinking, Timeouts};

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crate::control::{KeepGoingFor, RunControl};
use crate::corpus::Blob;
use crate::report::Finding;
use crate::rng::Seed;
use crate::run::{InProcess, Plan, Regressions};
use crate::server::ProgramSpec;
use crate::split::SplitMode;

/// Whether a [`Stutter`] run goes on after a finding: see [`KeepGoingFor`].
pub type KeepGoing = KeepGoingFor<Finding>;

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
    plan: Plan,
}

impl Stutter {
    /// Fuzzes the server at `addr`: `"127.0.0.1:6789"`, `"[::1]:6789"`, `"localhost:6789"`
    /// (a `SocketAddr` works too), or a Unix domain socket, `"unix:/run/app.sock"`. Port 0
    /// (or `"unix:"` with no path) lets the harness pick a free loopback port (or a fresh
    /// socket path) for the server it spawns, given it as `{addr}`/`{port}` (or `{path}`).
    /// The address is checked when the run starts.
    pub fn new(addr: impl std::fmt::Display) -> Self {
        Stutter {
            plan: Plan::new(addr.to_string()),
        }
    }

    /// Fuzzes a server that runs in this process: the harness binds a loopback listener
    /// (no free-port race), passes it to `server`, and runs the future on a runtime of its
    /// own. The future ending, or a panic in any task on that runtime, is a finding; a
    /// restart (to replay a case alone) calls `server` again on the same address.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use stutterfuzz::Stutter;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// async fn echo(listener: tokio::net::TcpListener) {
    ///     while let Ok((mut stream, _)) = listener.accept().await {
    ///         tokio::spawn(async move {
    ///             let mut buf = [0u8; 1024];
    ///             while let Ok(n @ 1..) = stream.read(&mut buf).await {
    ///                 if stream.write_all(&buf[..n]).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         });
    ///     }
    /// }
    ///
    /// Stutter::serve(echo)
    ///     .blob("hello", "hello world\n")
    ///     .cycles(100)
    ///     .run_for(Duration::from_secs(10));
    /// ```
    pub fn serve<F, Fut>(server: F) -> Self
    where
        F: Fn(tokio::net::TcpListener) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut stutter = Stutter::new("127.0.0.1:0");
        stutter.plan.in_process = Some(InProcess(Arc::new(move |listener| {
            Box::pin(server(listener))
        })));
        stutter
    }

    /// Spawns this server before fuzzing and stops it after. `{addr}`, `{host}` and
    /// `{port}` in its arguments become the address it must listen on, also given in
    /// `STUTTERFUZZ_ADDR` and `STUTTERFUZZ_PORT`. It runs in its own process group under a
    /// supervisor that stops every process it starts (daemons too) when the run ends, its
    /// output is kept (bounded) for the report, and the run starts once the address accepts
    /// connections. A server that goes into the background is a setup error. Default: no
    /// server is spawned; one must already listen.
    pub fn server(mut self, command: Command) -> Self {
        self.plan.server = Some(ProgramSpec::from_command(&command));
        self
    }

    /// Sends every regular file in `dir` (names starting with `.` skipped), sorted by name.
    /// A sub-directory, a broken link or an unreadable file is a setup error naming it.
    /// May be called more than once.
    pub fn blobs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plan.blob_dirs.push(dir.into());
        self
    }

    /// Adds one blob given in code. Names must be unique across all blobs.
    pub fn blob(mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.plan.inline.push(Blob::new(name, bytes));
        self
    }

    /// Runs shard `number` of `count` (from 1, as cargo-nextest's `--partition count:k/n`):
    /// with the same seed, the shards deliver disjoint rounds of one run, so a campaign split
    /// across machines never repeats a case. Also `STUTTERFUZZ_SHARD=k/n`. A number outside
    /// `1..=count` is a setup error when the run starts.
    pub fn shard(mut self, number: u64, count: u64) -> Self {
        match crate::Shard::new(number, count) {
            Ok(shard) => self.plan.requested.shard = shard,
            Err(e) => self.plan.bad_settings.push(e),
        }
        self
    }

    /// Delivers each blob `n` times, each with a fresh split pattern. Default: no limit,
    /// the run lasts its whole time budget.
    pub fn cycles(mut self, n: u64) -> Self {
        self.plan.requested.cycles = Some(n);
        self
    }

    /// How many connections are in flight at once. Default: 100. Deliveries that pause
    /// mid-message or read slowly run beside them, on up to as many connections more (at
    /// least 16), so a long pause never holds the others up. Where answers are awaited, fewer
    /// are in flight while the server queues them (a window that starts at 8 and opens with
    /// each prompt answer).
    pub fn connections(mut self, n: usize) -> Self {
        self.plan.requested.connections = n;
        self
    }

    /// How each connection waits between two chunks. Default: [`Pacing::Adaptive`], each
    /// chunk once the server has read the previous one.
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        let requested = &mut self.plan.requested;
        match pacing {
            Pacing::Adaptive { fallback } => {
                (requested.adaptive, requested.gap, requested.cycle) = (true, fallback, None);
            }
            Pacing::AfterAck(pause) => {
                (requested.adaptive, requested.gap, requested.cycle) = (false, pause, None);
            }
            Pacing::Cycle(every) => requested.cycle = Some(every),
        }
        self
    }

    /// What the harness does to some deliveries besides cutting them: early closes, fast
    /// open, pauses mid-message with a probe, slow readers. Default: [`Disruptions::default`].
    pub fn disruptions(mut self, disruptions: Disruptions) -> Self {
        let requested = &mut self.plan.requested;
        requested.chances.close = disruptions.close.n();
        requested.chances.fastopen = disruptions.fastopen.n();
        requested.chances.stall = disruptions.stall.n();
        requested.chances.slow = disruptions.slow_read.n();
        requested.stall_time = disruptions.stall_time;
        self
    }

    /// How long the harness waits for the server to start, accept and stop. Default:
    /// [`Timeouts::default`].
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        let requested = &mut self.plan.requested;
        requested.startup_timeout = timeouts.startup;
        requested.connect_timeout = timeouts.connect;
        requested.stop_grace = timeouts.stop;
        self
    }

    /// Which lines of the started server's output are findings. Default: sanitizer
    /// reports, Rust panics and valgrind errors ([`OutputRules::default`]).
    pub fn output(mut self, rules: OutputRules) -> Self {
        self.plan.output = rules.0;
        self
    }

    /// How long narrowing may take. Default: [`Shrinking::default`] (30 s).
    pub fn shrinking(mut self, shrinking: Shrinking) -> Self {
        let budget = &mut self.plan.requested.shrink;
        (budget.time, budget.attempts, budget.tries) =
            (shrinking.time, shrinking.attempts, shrinking.tries);
        self
    }

    /// How split patterns are drawn. Default: [`SplitMode::Mixed`], one mode per case.
    pub fn split_mode(mut self, mode: SplitMode) -> Self {
        self.plan.requested.mode = mode;
        self
    }

    /// Speaks TLS to the server: the handshake first, not fuzzed; then each chunk goes out as
    /// its own TLS record (one write, flushed), paced as without TLS, since behind TLS only a
    /// record boundary is a read boundary. The blob sent whole goes out in as few records as
    /// the 16 KiB record limit allows. Reports name the connection as TLS. When a conversation
    /// marks where TLS starts (`#~ tls`, STARTTLS), the handshake happens there instead, and
    /// blobs without a mark stay in clear text.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use stutterfuzz::{Stutter, TlsOptions};
    ///
    /// Stutter::new("localhost:4433")
    ///     .tls(TlsOptions::with_ca("tests/cert.pem"))
    ///     .blobs("fixtures/blobs")
    ///     .run_for(Duration::from_secs(10));
    /// ```
    pub fn tls(mut self, options: crate::TlsOptions) -> Self {
        self.plan.tls = Some(options);
        self
    }

    /// The seed of the split patterns. Default: a random one, printed in every report.
    /// `STUTTERFUZZ_SEED` overrides it.
    pub fn seed(mut self, seed: impl Into<Seed>) -> Self {
        self.plan.requested.seed = Some(seed.into());
        self
    }

    /// Delivers only this case (a case string from a report), up to 5 times, and fails if
    /// any attempt fails. `STUTTERFUZZ_REPLAY` overrides it. Default: fuzz.
    pub fn replay(mut self, case: impl Into<String>) -> Self {
        self.plan.requested.replay = Some(case.into());
        self
    }

    /// What a delivery's answer must be: the same as the blob's sent whole
    /// ([`AnswerOracle::same`]), complete in time, passing your check. Each call adds to the
    /// oracles of the calls before. Default: the answer must be the same as the blob's sent
    /// whole; [`AnswerOracle::none`] turns that off.
    pub fn oracle(mut self, oracle: AnswerOracle) -> Self {
        if let Some(on) = oracle.isolate_blobs {
            self.plan.requested.isolate_blobs = on;
        }
        let mut all = AnswerOracle {
            oracles: std::mem::take(&mut self.plan.oracles),
            ..AnswerOracle::default()
        };
        all.add(oracle);
        self.plan.oracles = all.oracles;
        self.plan.bad_settings.extend(all.bad);
        self
    }

    /// `true` goes on after each finding until the budget (or the cycles) end, instead of
    /// stopping at the first: for long runs that should find every distinct bug. Each
    /// finding is confirmed and narrowed as always; then the run begins again on a fresh
    /// server (a spawned server is stopped with its whole process tree and started anew)
    /// with the next seed. Findings are told apart by
    /// [`Finding::signature`](crate::Finding::signature): one met again adds to its count. A
    /// run with findings fails with [`Failure::Findings`](crate::Failure::Findings), which
    /// lists each distinct one, how often and when first it was seen; `.cycles(n)` applies
    /// to each part between findings. A [`KeepGoing`] also names a file of findings already
    /// known, passed over, and a callback that hears each new one at once. Default: off (a
    /// test goes red at its first finding).
    pub fn keep_going(mut self, keep_going: impl Into<KeepGoing>) -> Self {
        self.plan.keep_going = keep_going.into();
        self
    }

    /// Where findings are recorded, and replayed first on every later run. Default:
    /// [`Regressions::Beside`] the crate being tested, when the run is called from a test.
    pub fn regressions(mut self, regressions: Regressions) -> Self {
        self.plan.regressions = regressions;
        self
    }

    /// Steers the run from outside: a stop handle, a progress callback, a record of the
    /// deliveries, the command reports show for a replay. Each call sets what its
    /// [`RunControl`] sets and keeps the rest. Default: none of them.
    pub fn control(mut self, control: RunControl) -> Self {
        self.plan.stop = control.stop.or(self.plan.stop.take());
        self.plan.progress = control.progress.or(self.plan.progress.take());
        self.plan.delivery_log = control.record.or(self.plan.delivery_log.take());
        self.plan.rerun = control.rerun.or(self.plan.rerun.take());
        self
    }
}

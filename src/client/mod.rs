//! The client direction: the same bug on the other side of the connection. A driver, an
//! SDK, a proxy or a command-line tool that takes one `read()` of the server's answer as
//! the whole answer works on loopback, where one `write_all` almost always arrives as one
//! read, and breaks on a real network. Here the client under test connects to the harness,
//! which answers it (relaying a real server's answers, or a recorded conversation's) cut into
//! chunks that the client reads one at a time, and watches what the client does.
//!
//! - [`plan`]: what [`StutterClient`] was told, the environment laid over it;
//! - [`under_test`]: the client, a process or a function in this process, run once;
//! - [`attempt`]: one try of the client, on a stage of its own;
//! - [`relay`]: the listener the client connects to, and the cutting of the answers;
//! - [`answers`]: a real server's answers, or a stand-in's recorded ones; [`stand_in`]: the
//!   stand-in that answers with them; [`splitter`]: the cutting both share;
//! - [`certificate`]: the run's TLS certificate, for a client that starts TLS (STARTTLS);
//! - [`judge`]: what counts as a bug in a client; [`gate`]: confirmed alone, then narrowed;
//! - [`regressions`]: the regression file, run first and appended to;
//! - [`session`]: a run from its settings to its report (the verdict gate and narrowing too);
//!   [`streams`]: the bytes a run's cases cut, and how they are drawn;
//! - [`case`], [`report`]: what a run tells its user; [`signature`]: what tells its
//!   findings apart when it keeps going, [`tally`] counts them.

mod answers;
mod attempt;
mod baseline;
mod case;
mod certificate;
mod deprecated;
mod gate;
mod judge;
mod plan;
mod regressions;
mod relay;
mod report;
mod session;
mod signature;
mod splitter;
mod stand_in;
mod streams;
mod tally;
mod under_test;
mod upstream;

use std::fmt::Debug;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

pub use case::{ClientCase, ParseClientCaseError};
pub use judge::ClientFindingKind;
pub use report::{ClientFailure, ClientFinding, ClientReport};

/// Whether a [`StutterClient`] run goes on after a finding: see [`KeepGoingFor`].
pub type ClientKeepGoing = KeepGoingFor<ClientFinding>;

use crate::config::OutputWatch;
use crate::config::{PortZero, resolve_addr};
use crate::control::KeepGoingFor;
use crate::rng::Seed;
use crate::server::ProgramSpec;
use crate::split::SplitMode;
use crate::{OutputRules, Shrinking, Timeouts};
use plan::{Plan, Source};
use regressions::Regressions;
use under_test::{ClientFn, UnderTest};

/// A test of a client: how it reacts when the server's answers reach it cut into pieces.
///
/// The client is a command (run once per try, with `{addr}`, `{host}` and `{port}` in its
/// arguments filled in with where the harness listens) or an async function in this process
/// (given that address). Its answers come from a real server the harness relays to
/// ([`upstream`](Self::upstream), [`server`](Self::server)) or from recorded conversations
/// ([`answers`](Self::answers)). It fails when it exits non-zero, dies, panics, hangs past
/// the [`timeout`](Self::timeout), prints a sanitizer or panic line, or prints (returns)
/// something else than when the answers arrive whole. A failure counts only when the same
/// cut fails 3 times alone, each after a pass with whole answers; it is then narrowed and
/// reported with a case string that [`replay`](Self::replay) (or `STUTTERFUZZ_REPLAY`) runs
/// again.
///
/// ```no_run
/// use std::time::Duration;
/// use stutterfuzz::StutterClient;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # /*
/// #[test]
/// # */
/// fn my_client_reads_whole_replies() {
///     StutterClient::function(|addr| async move {
///         let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
///         stream.write_all(b"PING\r\n").await.unwrap();
///         let mut reply = Vec::new();
///         while !reply.ends_with(b"\r\n") {
///             let mut buf = [0u8; 64];
///             let n = stream.read(&mut buf).await.unwrap();
///             assert!(n > 0, "closed early");
///             reply.extend_from_slice(&buf[..n]);
///         }
///         String::from_utf8(reply).unwrap()
///     })
///     .answers("fixtures/client/answers")
///     .cycles(200)
///     .run_for(Duration::from_secs(10));
/// }
/// # my_client_reads_whole_replies();
/// ```
#[derive(Clone, Debug)]
#[must_use = "a StutterClient does nothing until run_for or try_run_for"]
pub struct StutterClient {
    plan: Plan,
}

impl StutterClient {
    /// A client that is a program, run once per try: `{addr}`, `{host}` and `{port}` in its
    /// arguments become where the harness listens (`STUTTERFUZZ_ADDR` and
    /// `STUTTERFUZZ_PORT` are set too), and `{cert}` the certificate to trust when it starts
    /// TLS with the harness (`STUTTERFUZZ_CERT`; see [`tls_identity`](Self::tls_identity)).
    /// What it prints on stdout is compared.
    pub fn command(command: Command) -> Self {
        let spec = ProgramSpec::from_command(&command);
        StutterClient {
            plan: Plan::new(UnderTest::Process(spec)),
        }
    }

    /// A client that is an async function in this process, called once per try with the
    /// address to connect to. What it returns (as `{:?}`) is compared; a panic is a failure.
    pub fn function<F, Fut, T>(client: F) -> Self
    where
        F: Fn(SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Debug + Send + 'static,
    {
        let client: ClientFn = Arc::new(move |addr| {
            let run = client(addr);
            Box::pin(async move { format!("{:?}", run.await) })
        });
        StutterClient {
            plan: Plan::new(UnderTest::InProcess(client)),
        }
    }

    /// Answers from the server listening at `addr` (`HOST:PORT`), relayed by the harness.
    pub fn upstream(mut self, addr: impl AsRef<str>) -> Self {
        self.plan.source = Some(
            resolve_addr(addr.as_ref(), PortZero::Refuse)
                .map(Source::Upstream)
                .map_err(|e| e.to_string()),
        );
        self
    }

    /// Answers from a server the run spawns (`{addr}`, `{host}`, `{port}` in its arguments
    /// become a free port), relayed by the harness, and stops with the run.
    pub fn server(mut self, command: Command) -> Self {
        self.plan.source = Some(Ok(Source::Server(ProgramSpec::from_command(&command))));
        self
    }

    /// Answers from recorded conversations: each file of `dir` holds what a client sent and
    /// what the server answered (`#~ heard` lines, as `stutterfuzz capture` writes them); a
    /// stand-in answers the client with them. No server is needed.
    pub fn answers(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plan.source = Some(Ok(Source::Recorded(dir.into())));
        self
    }

    /// At most `n` tries with cut answers (default: until the time budget).
    pub fn cycles(mut self, n: u64) -> Self {
        self.plan.cycles = Some(n);
        self
    }

    /// The seed the cuts are drawn from (default: a random one, printed in reports).
    pub fn seed(mut self, seed: impl Into<Seed>) -> Self {
        self.plan.seed = Some(seed.into());
        self
    }

    /// How many tries run side by side (default 4): each is one connection of the client
    /// to the harness, as [`Stutter::connections`](crate::Stutter::connections) counts them.
    pub fn connections(mut self, n: usize) -> Self {
        self.plan.parallel = n;
        self
    }

    /// How long one run of the client may take before it counts as hung
    /// ([`Timeouts::client`](crate::Timeouts::client), default 5 s), and how long a server
    /// the run starts for the answers may take to accept ([`Timeouts::startup`](crate::Timeouts::startup)).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.plan.timeout = timeouts.client;
        self.plan.startup_timeout = timeouts.startup;
        self
    }

    /// Where the harness listens for the client (default 127.0.0.1; `::1` for IPv6).
    pub fn host(mut self, host: IpAddr) -> Self {
        self.plan.host = host;
        self
    }

    /// Serves the client on a Unix domain socket instead of a TCP port (default off): the
    /// client's command gets the socket's path as `{path}` (and `{addr}`,
    /// `STUTTERFUZZ_PATH`), in a folder of the run's own, removed with it. Each cut is paced
    /// by what the client has read, as on TCP. For a client run as a command.
    pub fn unix(mut self, on: bool) -> Self {
        self.plan.unix = on;
        self
    }

    /// How cuts are drawn (default [`SplitMode::Mixed`]).
    pub fn split_mode(mut self, mode: SplitMode) -> Self {
        self.plan.mode = mode;
        self
    }

    /// Also cuts what the client sends on its way to the real server, paced by the server's
    /// reads as [`Stutter`](crate::Stutter) paces them (default off): a case then says how
    /// both directions were cut (`;requests=SIZES`), and narrowing shrinks both. Not with
    /// recorded answers.
    pub fn split_requests(mut self, on: bool) -> Self {
        self.plan.split_requests = on;
        self
    }

    /// Which lines of the client's output (a process's stdout and stderr) mark a bug, as
    /// [`Stutter::output`](crate::Stutter::output) says it for a server. Default: sanitizer
    /// reports, Rust panics and valgrind errors ([`OutputRules::default`]).
    pub fn output(mut self, rules: OutputRules) -> Self {
        self.plan.watch = rules.0.unwrap_or_else(OutputWatch::none);
        self
    }

    /// How long narrowing a finding may take. Default: 20 s; [`Shrinking::off`] reports the
    /// case as it failed.
    pub fn shrinking(mut self, shrinking: Shrinking) -> Self {
        self.plan.narrow_time = shrinking.time;
        self
    }

    /// Where findings are recorded, and run first on every later run. Default:
    /// [`Regressions::Beside`]: `stutterfuzz-regressions/<test name>-client.txt` in the crate
    /// being tested, when the run is called from a test.
    pub fn regressions(mut self, regressions: Regressions) -> Self {
        self.plan.regressions = regressions;
        self
    }

    /// `true` goes on after each finding, confirmed and narrowed, until the budget or the
    /// cycles end (default off: a run stops at its first finding, as a test must). Findings
    /// are told apart by [`ClientFinding::signature`]: one met again is counted, not
    /// narrowed or reported twice. A run that found any fails with
    /// [`ClientFailure::Findings`], which lists each distinct one, how often it was met and
    /// when first. A [`ClientKeepGoing`] also names a file of findings already
    /// known (passed over) and a callback that hears each new one at once, as for
    /// [`Stutter::keep_going`](crate::Stutter::keep_going).
    pub fn keep_going(mut self, keep_going: impl Into<ClientKeepGoing>) -> Self {
        self.plan.keep_going = keep_going.into();
        self
    }

    /// Calls `callback` with the run's report so far (its tries, cuts, unconfirmed cases,
    /// findings) about every `every`, between batches of tries: for a progress line. None
    /// by default.
    pub fn progress(
        mut self,
        every: Duration,
        callback: impl Fn(&ClientReport) + Send + Sync + 'static,
    ) -> Self {
        self.plan.progress = Some(plan::ClientProgress {
            every,
            callback: Arc::new(callback),
        });
        self
    }

    /// The certificate (with its chain) and its private key, PEM files, that the harness shows
    /// a client starting TLS with it (STARTTLS, answered by the stand-in or the relay). Default:
    /// a throwaway certificate for localhost, 127.0.0.1 and ::1, made for the run in a folder
    /// of its own and removed with it. Either way the client is told whom to trust: a command
    /// gets the certificate's path as `{cert}` in its arguments and as `STUTTERFUZZ_CERT`; a
    /// function in this process asks [`certificate_path`](Self::certificate_path).
    pub fn tls_identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.plan.tls_identity = Some((cert.into(), key.into()));
        self
    }

    /// How the relay speaks TLS to the real server ([`upstream`](Self::upstream),
    /// [`server`](Self::server)) when the client starts TLS mid-conversation (STARTTLS): the
    /// client's TLS ClientHello at a turn ends TLS on both sides, the client's with the
    /// harness's certificate ([`tls_identity`](Self::tls_identity)), and the server's answers
    /// inside TLS are cut as in clear text. Without it, a client's TLS is relayed as it is,
    /// its records cut as bytes. Not with recorded answers: a `#~ tls` mark in a conversation
    /// turns TLS on by itself.
    pub fn tls(mut self, options: crate::TlsOptions) -> Self {
        self.plan.tls = Some(options);
        self
    }

    /// Inside an in-process client's future ([`function`](Self::function)), the certificate
    /// the harness shows when the client starts TLS with it: the PEM file to trust. `None`
    /// outside one, or when the run has no TLS. (It is the future's own: a task the client
    /// spawns asks before, and takes the path along.)
    ///
    /// ```no_run
    /// use stutterfuzz::StutterClient;
    /// let test = StutterClient::function(|addr| async move {
    ///     let cert = StutterClient::certificate_path().expect("the run has TLS");
    ///     // ... connect to addr, and trust `cert` when the client starts TLS ...
    ///     # let _ = (addr, cert);
    /// })
    /// .answers("fixtures/client/starttls");
    /// # let _ = test;
    /// ```
    pub fn certificate_path() -> Option<PathBuf> {
        certificate::current()
    }

    /// Runs this one case (as a report prints it), with no randomness, instead of fuzzing.
    pub fn replay(mut self, case: ClientCase) -> Self {
        self.plan.replay = Some(case);
        self
    }

    /// Runs for at most `budget` (`STUTTERFUZZ_DURATION` overrides it) and panics with the
    /// report when the client fails or the run cannot start: for `#[test]` functions.
    #[track_caller]
    pub fn run_for(&self, budget: Duration) -> ClientReport {
        match self.try_run_for(budget) {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Like [`run_for`](Self::run_for), but returns what went wrong instead of panicking.
    ///
    /// # Errors
    /// [`ClientFailure::Finding`] when the client misbehaved, [`ClientFailure::Setup`] when
    /// the run could not start (no answers, the client fails with whole answers, never
    /// connects), or was called from the only thread of a current-thread runtime.
    pub fn try_run_for(&self, budget: Duration) -> Result<ClientReport, ClientFailure> {
        crate::run::may_block("run_for / try_run_for", "try_run_for_async")?;
        let caller = std::thread::current().name().map(str::to_owned);
        let (settings, budget) = self
            .plan
            .resolve(budget, caller.as_deref(), |name| std::env::var(name).ok())?;
        std::thread::scope(|scope| {
            let worker = crate::run::named_thread("stutterfuzz-client")
                .spawn_scoped(scope, || {
                    crate::run::runtime()?.block_on(session::run(settings, budget))
                })
                .map_err(|e| crate::run::thread_error("client run", e))?;
            match worker.join() {
                Ok(outcome) => outcome,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Like [`run_for`](Self::run_for), on the caller's own runtime (`#[tokio::test]`): the
    /// twin of [`Stutter::run_for_async`](crate::Stutter::run_for_async).
    ///
    /// # Panics
    /// As [`run_for`](Self::run_for).
    #[track_caller]
    pub fn run_for_async(&self, budget: Duration) -> impl Future<Output = ClientReport> + '_ {
        // The caller's location is taken here: `#[track_caller]` does not reach into the
        // future's body.
        let caller = std::panic::Location::caller();
        async move {
            match self.try_run_for_async(budget).await {
                Ok(report) => report,
                Err(failure) => crate::run::fail_at(failure, caller),
            }
        }
    }

    /// Like [`try_run_for`](Self::try_run_for), on the caller's own runtime
    /// (`#[tokio::test]`).
    ///
    /// # Errors
    /// As [`try_run_for`](Self::try_run_for).
    pub async fn try_run_for_async(&self, budget: Duration) -> Result<ClientReport, ClientFailure> {
        let caller = std::thread::current().name().map(str::to_owned);
        let (settings, budget) = self
            .plan
            .resolve(budget, caller.as_deref(), |name| std::env::var(name).ok())?;
        session::run(settings, budget).await
    }
}

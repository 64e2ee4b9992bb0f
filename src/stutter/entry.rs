//! The entry points: run (blocking or async), preview, start a target, summarize the blobs.
//! Each hands the plan to the run layer; only [`fail`] panics.

use std::time::Duration;

use super::Stutter;
use crate::case::Case;
use crate::corpus::BlobSummary;
use crate::error::SetupError;
use crate::report::{Failure, Report};
use crate::run::{self, FuzzTarget, RunningServer};

impl Stutter {
    /// The first `n` cases this configuration delivers, in order, without touching the
    /// network: what a seed means, made visible.
    ///
    /// # Errors
    /// A setup error if the blobs or settings are unusable.
    pub fn preview(&self, n: usize) -> Result<Vec<Case>, SetupError> {
        run::preview(&self.plan, n)
    }

    /// Starts the server (if one is given) and keeps it up for single deliveries of
    /// chosen split patterns, as property tests make them. Blobs, cycles and the time budget
    /// play no part; the oracles, timeouts and output watching do.
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use proptest::prelude::*;
    /// use stutterfuzz::{RunningServer, Stutter};
    ///
    /// const REQUEST: &[u8] = b"SET session:42 alice\nGET session:42\n";
    ///
    /// fn target() -> &'static RunningServer {
    ///     static TARGET: std::sync::OnceLock<RunningServer> = std::sync::OnceLock::new();
    ///     TARGET.get_or_init(|| {
    ///         let mut server = Command::new("target/debug/myserver");
    ///         server.args(["--listen", "{addr}"]);
    ///         Stutter::new("127.0.0.1:0").server(server).start().expect("the server starts")
    ///     })
    /// }
    ///
    /// proptest! {
    /// #   /*
    ///     #[test]
    /// #   */
    ///     fn any_split_is_answered(splits in stutterfuzz::split_patterns(REQUEST.len())) {
    ///         let delivered = target().deliver(REQUEST, &splits);
    ///         prop_assert!(delivered.is_ok(), "{}", delivered.unwrap_err());
    ///     }
    /// }
    /// # any_split_is_answered();
    /// ```
    ///
    /// # Errors
    /// A setup error if the server does not start or nothing listens at the address.
    pub fn start(&self) -> Result<RunningServer, Failure> {
        RunningServer::start(&self.plan)
    }

    /// Starts the server for a coverage-guided fuzzer: each input becomes a case of one of
    /// the blobs (see [`fuzz`](crate::fuzz)), delivered and judged; a failing case panics
    /// with its case string, which the fuzzer records as a crash.
    ///
    /// ```no_run
    /// use std::sync::OnceLock;
    /// use stutterfuzz::{Stutter, fuzz::FuzzTarget};
    ///
    /// fn target() -> &'static FuzzTarget {
    ///     static TARGET: OnceLock<FuzzTarget> = OnceLock::new();
    ///     TARGET.get_or_init(|| {
    ///         Stutter::serve(|listener| async move {
    ///             # let _ = listener; /*
    ///             myserver::serve(listener).await
    ///             # */
    ///         })
    ///         .blob("set-get", "SET k v\nGET k\n")
    ///         .fuzz_target()
    ///         .expect("the server starts")
    ///     })
    /// }
    ///
    /// // In fuzz/fuzz_targets/splits.rs: `fuzz_target!(|data: &[u8]| target().run(data));`
    /// target().run(&[0, 0, 3]);
    /// ```
    ///
    /// # Errors
    /// A setup error if there is no blob, the server does not start or nothing listens.
    pub fn fuzz_target(&self) -> Result<FuzzTarget, Failure> {
        FuzzTarget::start(&self.plan)
    }

    /// What a run of this configuration counts as a bug, as a list in words: "the server's
    /// death, refused or unaccepted connects, hangs, ..., answers that change when split". The
    /// command line prints it before fuzzing; a report that found nothing says it too.
    ///
    /// ```
    /// use stutterfuzz::{AnswerOracle, Stutter};
    ///
    /// let fuzz = Stutter::new("127.0.0.1:6789");
    /// assert!(fuzz.checks().contains("answers that change when split"));
    /// let fuzz = fuzz.oracle(AnswerOracle::none());
    /// assert!(!fuzz.checks().contains("answers"));
    /// ```
    pub fn checks(&self) -> String {
        self.plan.checks()
    }

    /// Loads the blobs and says how many there are and how large, without running.
    ///
    /// # Errors
    /// A setup error if the blobs are unusable (missing or empty directory, unreadable file).
    pub fn blob_summary(&self) -> Result<BlobSummary, SetupError> {
        self.plan.corpus().map(|corpus| corpus.summary())
    }

    /// Runs until every blob had its cycles or `budget` elapsed (`STUTTERFUZZ_DURATION`
    /// overrides it), and returns the report. The run has a thread and a runtime of its own,
    /// so this works in a plain `#[test]` and on a multi-threaded runtime; in a
    /// `#[tokio::test]` (one thread), use [`run_for_async`](Self::run_for_async).
    ///
    /// # Panics
    /// With the full report when a bug is found, and with the setup error when the run
    /// cannot start (bad blobs, bad address, a server that does not start, or a call from
    /// the only thread of a current-thread runtime). The server is stopped before the panic.
    #[track_caller]
    pub fn run_for(&self, budget: Duration) -> Report {
        match self.try_run_for(budget) {
            Ok(report) => report,
            Err(failure) => fail(failure),
        }
    }

    /// Like [`run_for`](Self::run_for), but returns what went wrong instead of panicking.
    ///
    /// # Errors
    /// [`Failure::Finding`] when the server misbehaved, [`Failure::Setup`] when the run
    /// could not start or go on, or was called from the only thread of a current-thread
    /// runtime (which it would block).
    pub fn try_run_for(&self, budget: Duration) -> Result<Report, Failure> {
        run::run_blocking(&self.plan, budget)
    }

    /// Like [`run_for`](Self::run_for), on the caller's own runtime. Works on a
    /// current-thread runtime (`#[tokio::test]`) and a multi-threaded one. Give the server
    /// to [`Stutter::serve`]: it runs on the harness's own runtime, where a panic in any of
    /// its tasks is a finding. (A server spawned on the test's runtime is fuzzed too, but
    /// its tasks' panics stay in their `JoinHandle`s, out of the harness's sight.)
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use stutterfuzz::Stutter;
    ///
    /// async fn my_server(listener: tokio::net::TcpListener) {
    ///     // serve connections from `listener`...
    /// #   drop(listener);
    /// }
    ///
    /// # /*
    /// #[tokio::test]
    /// # */
    /// async fn my_server_survives_splits() {
    ///     Stutter::serve(my_server)
    ///         .blobs("fixtures/blobs")
    ///         .cycles(50)
    ///         .run_for_async(Duration::from_secs(10))
    ///         .await;
    /// }
    /// # drop(my_server_survives_splits());
    /// ```
    ///
    /// # Panics
    /// As [`run_for`](Self::run_for).
    #[track_caller]
    pub fn run_for_async(&self, budget: Duration) -> impl Future<Output = Report> + '_ {
        // The caller's location is taken here: `#[track_caller]` does not reach into the
        // future's body.
        let caller = std::panic::Location::caller();
        async move {
            match self.try_run_for_async(budget).await {
                Ok(report) => report,
                Err(failure) => run::fail_at(failure, caller),
            }
        }
    }

    /// Like [`try_run_for`](Self::try_run_for), on the caller's own runtime.
    ///
    /// # Errors
    /// As [`try_run_for`](Self::try_run_for), but never refuses a current-thread runtime.
    pub async fn try_run_for_async(&self, budget: Duration) -> Result<Report, Failure> {
        run::run_async(&self.plan, budget).await
    }
}

/// Panics with the failure, from a named function so the message and the caller's line
/// (through `#[track_caller]`) are what the test output shows.
#[track_caller]
fn fail(failure: Failure) -> ! {
    panic!("{failure}")
}

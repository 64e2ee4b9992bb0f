//! # stutterfuzz
//!
//! Fuzzes TCP servers by varying *packet boundaries*. A server that assumes one `read()`
//! returns one whole message has a bug that ordinary tests never show, because a test
//! client writes each message at once. stutterfuzz sends real client traffic ("blobs")
//! over many connections, each blob cut into random chunks, and waits for each chunk to be
//! acknowledged and for the server to have had time to read it before sending the next,
//! so the server really sees those boundaries. Now and then a connection pauses
//! mid-message while a probe checks that the server still serves others, or reads its
//! response slowly through a small window, so the server's writes come up short. A crash, a
//! refused connection, a server that stops accepting or serving, or an answer that changes
//! when the request is split (each blob is first sent whole, and every split delivery must
//! get the same answer) is a bug found, reported with a case string that replays it.
//!
//! ## The API
//! - **Create**: [`Stutter::new`] with the address the server listens on, or
//!   [`Stutter::serve`] for a server that is a future in this process.
//! - **Configure**: [`Stutter::server`] (spawn and supervise it; [`valgrind`] wraps it),
//!   [`Stutter::blobs`] / [`Stutter::blob`] (what to send), [`Stutter::cycles`],
//!   [`Stutter::connections`], [`Stutter::splits`] ([`SplitMode`]), [`Stutter::seed`],
//!   [`Stutter::disruptions`] (pauses mid-message, [`Stall`]; slow readers, [`SlowRead`];
//!   as [`Chance`]s), [`Stutter::pacing`], [`Stutter::timeouts`], [`Stutter::shrinking`];
//!   answer oracles: [`Stutter::responses`] ([`AnswerOracle::same`], on by default, with masks
//!   and a normalizer for parts of answers that vary; a time limit, your own check;
//!   [`AnswerOracle::none`] turns them off),
//!   [`Stutter::output`]; and more on [`Stutter`].
//! - **Run**: [`Stutter::run_for`] panics with the report on a finding (for `#[test]`);
//!   [`Stutter::try_run_for`] returns a [`Report`] or a [`Failure`], which keeps setup
//!   errors ([`SetupError`]) apart from bugs ([`Finding`]). Both run on a thread and runtime
//!   of their own; [`Stutter::run_for_async`] / [`Stutter::try_run_for_async`] run on the
//!   caller's runtime (`#[tokio::test]`, a server spawned on that runtime). A finding names
//!   the culprit case and its shrunk pattern, and is recorded in a regression file replayed
//!   first on the next run. Every process a spawned server starts ends with the run.
//!   [`guide::reading_a_report`] explains a report line by line, and every word of the
//!   stats line.
//! - **Replay**: [`Stutter::replay`] or `STUTTERFUZZ_REPLAY='<case>'` delivers one
//!   recorded [`Case`] (a blob and its exact [`Splits`]) without any randomness.
//! - **Property tests**: [`splits`] is a proptest strategy for split patterns;
//!   [`Stutter::start`] gives a [`RunningServer`] that delivers one chosen pattern at a time.
//! - **Clients too**: [`StutterClient`] runs a client (a command, or an async function) against
//!   answers cut into reads of their own, from a real server or recorded conversations, and
//!   reports a [`ClientFinding`] with a [`ClientCase`] that replays it.
//! - **Real traffic in**: [`traffic`] records blobs through a proxy or imports them from a
//!   packet capture; a blob may be a conversation that waits for the server ([`WaitPoint`]);
//!   [`Stutter::tls`] ([`TlsOptions`]) reaches servers behind TLS.
//!
//! ## Example
//! A test in the server's own crate (`myserver` is its binary):
//! ```no_run
//! use std::{process::Command, time::Duration};
//! use stutterfuzz::Stutter;
//! # macro_rules! env { ($name:literal) => { "target/debug/myserver" }; }
//!
//! # /*
//! #[test]
//! # */
//! fn survives_any_packet_split() {
//!     let mut server = Command::new(env!("CARGO_BIN_EXE_myserver"));
//!     server.args(["--listen", "{addr}"]);
//!     Stutter::new("127.0.0.1:0")
//!         .server(server)
//!         .blobs("fixtures/blobs")
//!         .cycles(500)
//!         .run_for(Duration::from_secs(10));
//! }
//! # survives_any_packet_split();
//! ```
//!
//! ## Environment
//! `STUTTERFUZZ_SEED` (a seed), `STUTTERFUZZ_DURATION` (`30s`, `2m`: overrides the time
//! budget and lifts `.cycles(n)`, so the run lasts that long: CI can run short and a
//! nightly job long) and `STUTTERFUZZ_REPLAY` (a case string) override the code;
//! `STUTTERFUZZ_SHARD`, `STUTTERFUZZ_SHRINK_TIME` and `STUTTERFUZZ_SAVE_REGRESSIONS` are in
//! the guide's command-line chapter. A value that does not parse is a setup error naming it.

#![warn(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]
// Every doc example compiles warning-free (the `#[test]` functions of examples are shown,
// and compiled as plain functions by hidden lines: rustdoc would drop a `#[test]` item).
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")
)]

// The facade: what users call.
mod stutter;
// The run layer: a run from its plan to its report.
mod run;
// The client direction: the client under test, its answers cut.
mod client;
// The delivery engine: connections, pacing, the run loop.
mod engine;
// What counts as a bug.
mod oracle;
// The server under test: a process or a future in this process.
mod server;
// What a run tells its user.
mod report;
// The guide: docs-only chapters whose examples are compiled.
pub mod guide;
// Real traffic in: blobs from packet captures.
pub mod traffic;
// Coverage-guided split search: the body of a libFuzzer or AFL fuzz target.
pub mod fuzz;
// The operating system's parts, behind one seam.
mod platform;
// Leaves: data, settings and algorithms.
mod case;
mod config;
mod control;
mod corpus;
mod delivery_log;
mod error;
mod limits;
mod minimize;
mod rng;
mod split;
mod stats;
mod tls;
mod wire;

pub use case::{Case, ParseCaseError, SlowRead, Stall};
pub use client::{
    ClientCase, ClientFailure, ClientFinding, ClientFindingKind, ClientKeepGoing, ClientReport,
    ParseClientCaseError, StutterClient,
};
pub use config::Shard;
pub use control::{KeepGoingFor, RunControl, RunEnd, StopHandle};
pub use corpus::{Blob, BlobSummary, Http2Frame, RecordedAnswer, WaitFor, WaitPoint};
pub use error::{SetupError, SetupErrorKind};
pub use oracle::FindingKind;
pub use oracle::Response;
pub use report::{Distinct, Failure, Finding, Findings, Listed, Report, Suspect};
pub use rng::{ParseSeedError, Seed};
pub use run::{DeliveryResult, Regressions, RunningServer};
pub use server::{VALGRIND_FLAGS, valgrind};
#[allow(deprecated)]
pub use split::{ParseSplitsError, SplitMode, Splits, split_patterns, splits};
pub use stats::{OriginalStats, SlowAccepts, Stats};
pub use stutter::{
    AnswerOracle, Chance, Disruptions, KeepGoing, OutputRules, Pacing, Shrinking, Stutter, Timeouts,
};
pub use tls::TlsOptions;

/// The defaults of a run, for the command line (which takes its own from here).
#[doc(hidden)]
pub use config::defaults;
/// Patterns drawn without a run, for the benchmarks.
#[doc(hidden)]
pub use split::{drawn_answer_patterns, drawn_patterns};

/// The README's examples, compiled as doc tests so they keep working when pasted. The README
/// has no hidden lines (they would show on every page that renders it): a test function
/// there calls a plain function that holds the example, which may then be unused here.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc(test(attr(allow(dead_code))))]
pub struct ReadmeDoctests;

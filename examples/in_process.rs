//! Fuzzing a server that is a future in the test's own process: the harness binds the
//! listener, runs the server on a runtime of its own, and a panic in any of its tasks is a
//! finding. Copy `fuzz` into a test of your crate, with your server in place of
//! `line_server::serve`.
//!
//! ```text
//! cargo run --example in_process              # the buggy server: found, narrowed, replayable
//! cargo run --example in_process -- --correct  # the correct one: no finding
//! cargo run --example in_process -- --async    # the same from a one-thread tokio runtime
//! ```

#[path = "common/line_server.rs"]
mod line_server;

use std::process::ExitCode;
use std::time::Duration;
use stutterfuzz::Regressions;

use stutterfuzz::{Failure, Report, Stutter};

/// What a test would hold: the blobs, and a budget short enough for every `cargo test`.
fn fuzz(buggy: bool) -> Stutter {
    Stutter::serve(move |listener| line_server::serve(listener, buggy))
        .blob("ping", "PING\n")
        .blob("echo", "ECHO hello\nPING\n")
        .cycles(200)
        .regressions(Regressions::Off)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let buggy = !args.iter().any(|a| a == "--correct");
    let budget = Duration::from_secs(10);
    let outcome: Result<Report, Failure> = if args.iter().any(|a| a == "--async") {
        // In a `#[tokio::test]`: `fuzz(buggy).run_for_async(budget).await`.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(fuzz(buggy).try_run_for_async(budget))
    } else {
        // In a plain `#[test]`: `fuzz(buggy).run_for(budget)`, which panics with the report.
        fuzz(buggy).try_run_for(budget)
    };
    match outcome {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("{failure}");
            ExitCode::from(1)
        }
    }
}

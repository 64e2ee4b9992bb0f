//! Replay from a regression file: a finding is recorded as one line, and every later run
//! replays the file's lines before it fuzzes, so a bug once found is tried first until it is
//! fixed, and a fixed bug stays fixed. In a test, the default (`Regressions::Beside`) keeps
//! the file in `stutterfuzz-regressions/<test name>.txt` of your crate: commit it.
//!
//! This example runs the story in one go, with the file in a temporary directory: the buggy
//! server is fuzzed until a finding is recorded; fuzzed again, it fails on the recorded case
//! before any fuzzing; then the fixed server replays the case clean and is fuzzed as usual.
//!
//! ```text
//! cargo run --example regressions
//! ```

#[path = "common/line_server.rs"]
mod line_server;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use stutterfuzz::{Regressions, Stutter};

/// What a test would hold, with the regression file named.
fn fuzz(file: &Path, buggy: bool) -> Stutter {
    Stutter::serve(move |listener| line_server::serve(listener, buggy))
        .blob("ping", "PING\n")
        .blob("echo", "ECHO hello\nPING\n")
        .cycles(200)
        .regressions(Regressions::at(file))
}

fn main() -> ExitCode {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("line_server.txt");
    let budget = Duration::from_secs(10);

    println!(
        "1. The buggy server, fuzzed: a finding, recorded in {}",
        file.display()
    );
    let Err(found) = fuzz(&file, true).try_run_for(budget) else {
        println!("no finding: the example's server should have failed");
        return ExitCode::from(1);
    };
    println!("{found}\n");
    let recorded = std::fs::read_to_string(&file).unwrap_or_default();
    println!("The regression file now holds:\n{recorded}");

    println!("2. The buggy server again: the recorded case is replayed first, and fails");
    let Err(again) = fuzz(&file, true).try_run_for(budget) else {
        println!("no finding: the recorded case should have failed again");
        return ExitCode::from(1);
    };
    println!("{again}\n");

    println!("3. The server fixed: the recorded case replays clean, then the run fuzzes");
    match fuzz(&file, false).try_run_for(budget) {
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

//! The demo: fuzz a bundled server that has a planted packet-boundary bug, and print what
//! stutterfuzz finds.
//!
//! ```text
//! cargo run --example demo                      # find the bug (10 s budget at most)
//! cargo run --example demo -- --seconds 30      # a longer budget
//! cargo run --example demo -- --replay 'CASE'   # replay one case from the report
//! ```
//!
//! The server is this same program started with `--serve ADDR`: a line-protocol key-value
//! store that assumes one `read()` returns whole lines (see `fixtures/servers`), so it runs
//! from a fresh clone with no other build step.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use stutterfuzz::{Failure, RunControl, Stutter};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(addr) = value_of("--serve") {
        let listener = std::net::TcpListener::bind(&addr).expect("the demo server binds");
        stutterfuzz_fixtures::servers::serve_split_crash(listener);
        return ExitCode::SUCCESS;
    }
    let seconds: u64 = match value_of("--seconds").map(|s| s.parse()) {
        None => 10,
        Some(Ok(s)) if s > 0 => s,
        Some(_) => {
            eprintln!("demo: --seconds takes a positive whole number of seconds");
            return ExitCode::from(2);
        }
    };

    let exe = std::env::current_exe().expect("the demo knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve", "{addr}"]);
    let blobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs");
    let mut fuzz = Stutter::new("127.0.0.1:0")
        .server(server)
        .blobs(blobs)
        // Few connections keep the list of cases in flight at the crash short.
        .connections(8)
        .control(
            RunControl::default().rerun_command("cargo run --example demo -- --replay {case}"),
        );
    let replaying = value_of("--replay");
    if let Some(case) = &replaying {
        fuzz = fuzz.replay(case);
    }

    eprintln!(
        "demo: fuzzing a line server that assumes one read() = one line ({seconds} s at most)..."
    );
    match fuzz.try_run_for(Duration::from_secs(seconds)) {
        Err(Failure::Finding(finding)) => {
            println!("{finding}");
            match finding.minimal() {
                Some(minimal) => eprintln!(
                    "\ndemo: found the planted bug; the smallest case is {minimal}. Replay it with:\n  {}",
                    finding.replay_line(minimal)
                ),
                None => eprintln!(
                    "\ndemo: found the planted bug; replay any case above with the line it shows."
                ),
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("demo: {failure}");
            ExitCode::from(2)
        }
        Ok(report) => {
            println!("{report}");
            if replaying.is_some() {
                eprintln!("demo: this case alone does not crash the server; try another suspect.");
            } else {
                eprintln!("demo: no finding this time; try a longer --seconds.");
            }
            ExitCode::from(1)
        }
    }
}

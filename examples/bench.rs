//! Throughput benchmark: fuzz the bundled correct server at several connection counts and
//! print what each run measured. Not a test: it measures, and its duration is a parameter.
//!
//! ```text
//! cargo run --release --example bench                             # 5 s per setting
//! cargo run --release --example bench -- --seconds 20 --connections 1,100,1000
//! ```

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use stutterfuzz::Stutter;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(addr) = value_of("--serve") {
        let listener = std::net::TcpListener::bind(&addr).expect("the bench server binds");
        stutterfuzz_fixtures::servers::serve_correct(listener);
        return ExitCode::SUCCESS;
    }
    let Ok(seconds) = value_of("--seconds")
        .unwrap_or_else(|| "5".into())
        .parse::<u64>()
    else {
        eprintln!("bench: --seconds takes a whole number");
        return ExitCode::from(2);
    };
    let counts: Result<Vec<usize>, _> = value_of("--connections")
        .unwrap_or_else(|| "1,100,1000".into())
        .split(',')
        .map(str::parse)
        .collect();
    let Ok(counts) = counts else {
        eprintln!("bench: --connections takes a comma-separated list such as 1,100,1000");
        return ExitCode::from(2);
    };

    let exe = std::env::current_exe().expect("the bench knows its own path");
    let blobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs");
    println!("connections  chunks/s  deliveries/s  ready_to_send  mean_cycles_to_connect");
    for connections in counts {
        let mut server = Command::new(&exe);
        server.args(["--serve", "{addr}"]);
        let outcome = Stutter::new("127.0.0.1:0")
            .server(server)
            .blobs(&blobs)
            .connections(connections)
            .close_chance(0)
            .seed(1)
            .try_run_for(Duration::from_secs(seconds));
        match outcome {
            Ok(report) => {
                let s = report.stats();
                println!(
                    "{connections:>11}  {:>8.0}  {:>12.0}  {:>13.3}  {:>22.2}",
                    s.chunks_per_sec(),
                    s.deliveries_per_sec(),
                    s.ready_to_send,
                    s.mean_cycles_to_connect
                );
            }
            Err(failure) => {
                eprintln!(
                    "bench: the correct server failed at {connections} connections:\n{failure}"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

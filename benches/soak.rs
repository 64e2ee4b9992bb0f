//! Soak benchmark: fuzz the bundled correct server at many connections for a long time and
//! sample the harness's open file descriptors and resident memory every interval. Both must
//! stay flat, and the run must end with no finding. Not a test: a long measurement.
//!
//! ```text
//! cargo bench --bench soak                                  # 10 min, 1000 connections
//! cargo bench --bench soak -- --seconds 60 --connections 100 --every 5
//! ```

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use stutterfuzz::{Regressions, RunControl, Stutter};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str, default: u64| -> Option<u64> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()),
            None => Some(default),
        }
    };
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let addr = args.get(i + 1).expect("--serve ADDR");
        let listener = std::net::TcpListener::bind(addr).expect("the soak server binds");
        stutterfuzz_fixtures::servers::serve_correct(listener);
        return ExitCode::SUCCESS;
    }
    let (Some(seconds), Some(connections), Some(every)) = (
        value_of("--seconds", 600),
        value_of("--connections", 1000),
        value_of("--every", 10),
    ) else {
        eprintln!("soak: --seconds, --connections and --every take whole numbers");
        return ExitCode::from(2);
    };

    let exe = std::env::current_exe().expect("the soak knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve", "{addr}"]);
    let blobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs");
    let started = Instant::now();
    println!(
        "{:>7}  {:>5}  {:>9}  {:>10}  {:>9}",
        "elapsed", "fds", "rss_kib", "deliveries", "chunks/s"
    );
    let fuzz = Stutter::new("127.0.0.1:0")
        .server(server)
        .blobs(blobs)
        .regressions(Regressions::Off)
        .connections(connections as usize)
        .control(
            RunControl::default().progress(Duration::from_secs(every.max(1)), move |stats| {
                println!(
                    "{:>6}s  {:>5}  {:>9}  {:>10}  {:>9.0}",
                    started.elapsed().as_secs(),
                    open_fds(),
                    rss_kib(),
                    stats.deliveries,
                    stats.chunks_per_sec()
                );
            }),
        );
    match fuzz.try_run_for(Duration::from_secs(seconds)) {
        Ok(report) => {
            println!("{report}");
            println!("peak rss: {} KiB", peak_rss_kib());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("soak: the correct server failed:\n{failure}");
            ExitCode::FAILURE
        }
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

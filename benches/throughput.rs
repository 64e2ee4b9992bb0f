//! Benchmark: how fast stutterfuzz delivers, and how faithfully the server really sees the
//! boundaries. Not a test: it measures, and its duration is a parameter.
//!
//! The server is a read recorder (the bundled fixture): it logs the size of every `read()`
//! per connection. Together with the harness's delivery record this gives, per setting:
//! chunks/s, deliveries/s, complete deliveries/s, boundary fidelity (the share of intended
//! boundaries that were also read boundaries), the exact-pattern rate (deliveries whose
//! reads equal the chunks), the harness's CPU use and peak RSS. Each setting runs in a
//! process of its own, so CPU and memory are that setting's alone.
//!
//! ```text
//! cargo bench --bench throughput                          # 5 s per setting
//! cargo bench --bench throughput -- --seconds 20
//! cargo bench --bench throughput -- --oracles-only       # only the response-oracle part
//! cargo bench --bench throughput -- --narrowing-only     # only the narrowing part
//! cargo bench --bench throughput -- --slow-readers-only  # only the slow-reader part
//! ```

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::{Chance, Disruptions, Pacing, Shrinking};

use stutterfuzz::Stutter;

/// How a setting paces its chunks.
#[derive(Clone, Copy)]
enum Mode {
    /// The default: the server's receive queue.
    Adaptive,
    /// ACK, then a fixed pause (ms).
    Pause(u64),
    /// The original tool's fixed cycle (ms).
    Cycle(u64),
    /// The default, against a server that also prints megabytes a second on stderr.
    Noisy,
    /// The default, the server on a Unix socket (paced by the socket's own send queue).
    Unix,
}

/// (label, connections, pacing)
const SETTINGS: [(&str, usize, Mode); 9] = [
    ("adaptive (default)", 1, Mode::Adaptive),
    ("adaptive, Unix socket", 1, Mode::Unix),
    ("adaptive, Unix socket", 100, Mode::Unix),
    ("adaptive (default)", 100, Mode::Adaptive),
    ("adaptive, 4 MiB/s log", 100, Mode::Noisy),
    ("adaptive (default)", 1000, Mode::Adaptive),
    ("ack + 2 ms pause", 100, Mode::Pause(2)),
    ("fixed 150 ms cycle", 100, Mode::Cycle(150)),
    ("fixed 1 ms cycle", 100, Mode::Cycle(1)),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let (Some(addr), Some(log)) = (value("--serve"), value("--log")) {
        let listener = std::net::TcpListener::bind(&addr).expect("the bench server binds");
        if args.iter().any(|a| a == "--noisy") {
            stutterfuzz_fixtures::make_noise(stutterfuzz_fixtures::NOISE);
        }
        stutterfuzz_fixtures::servers::serve_read_recorder(listener, PathBuf::from(log), None);
        return ExitCode::SUCCESS;
    }
    if let (Some(path), Some(log)) = (value("--serve-unix"), value("--log")) {
        serve_unix_read_recorder(Path::new(&path), Path::new(&log));
        return ExitCode::SUCCESS;
    }
    if let (Some(addr), Some(kind)) = (value("--serve"), value("--buggy")) {
        let listener = std::net::TcpListener::bind(&addr).expect("the bench server binds");
        use stutterfuzz_fixtures::{servers, tokio_server};
        match kind.as_str() {
            "correct" => servers::serve_correct(listener),
            "crash" => servers::serve_split_crash(listener),
            "wrong" => servers::serve_split_wrong(listener),
            "straddle" => servers::serve_straddle_hang(listener),
            "blocking" => servers::serve_blocking_reads(listener),
            "record" => servers::serve_record_crash(listener, std::time::Duration::ZERO),
            "dies-after" => servers::serve_dying_after(listener, 25),
            _ => tokio_server::serve_panicking_task(listener),
        }
        return ExitCode::SUCCESS;
    }
    let Ok(seconds) = value("--seconds")
        .unwrap_or_else(|| "5".into())
        .parse::<u64>()
    else {
        eprintln!("throughput: --seconds takes a whole number");
        return ExitCode::from(2);
    };
    if let Some(setting) = value("--one") {
        return run_one(&setting, seconds);
    }
    if args.iter().any(|a| a == "--oracles-only") {
        return oracles_section(seconds);
    }
    if args.iter().any(|a| a == "--narrowing-only") {
        narrowing_section();
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--slow-readers-only") {
        slow_reader_section(seconds);
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<22} {:>5} {:>9} {:>12} {:>10} {:>9} {:>7} {:>9} {:>8}",
        "setting",
        "conns",
        "chunks/s",
        "deliveries/s",
        "complete/s",
        "fidelity",
        "exact",
        "cpu",
        "rss_mib"
    );
    let exe = std::env::current_exe().expect("the bench knows its own path");
    for (i, (label, connections, _)) in SETTINGS.iter().enumerate() {
        let out = Command::new(&exe)
            .args(["--one", &i.to_string(), "--seconds", &seconds.to_string()])
            .output()
            .expect("the bench runs a setting");
        let line = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            eprintln!(
                "throughput: {label} at {connections} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return ExitCode::FAILURE;
        }
        println!("{:<22} {:>5} {}", label, connections, line.trim());
    }
    println!();
    println!("{:<44} {:>14}", "buggy fixture (oracle)", "time to find");
    for (kind, label) in [
        ("crash", "crashes on a split line (server died)"),
        ("wrong", "answers a split wrongly (same response)"),
        ("straddle", "hangs on a split \\r\\n (response timeout)"),
        ("panic", "tokio task panics (output watching)"),
        ("blocking", "blocks on a partial line (pauses)"),
    ] {
        match time_to_find(kind) {
            Some(found) => println!("{label:<44} {:>11.3} s", found.as_secs_f64()),
            None => println!("{label:<44} {:>14}", "not found"),
        }
    }
    println!();
    narrowing_section();
    println!();
    slow_reader_section(seconds);
    println!();
    oracles_section(seconds)
}

/// What slow readers cost, and whether they reach the server: deliveries/s against the
/// correct fixture with a 2 MB reply, slow readers off, at the default rate and always, and
/// the share of slow deliveries during which the server's send buffer was full.
fn slow_reader_section(seconds: u64) {
    println!(
        "{:<32} {:>12} {:>10} {:>14} {:>7}",
        "slow readers (2 MB reply)", "deliveries/s", "slow", "backpressured", "share"
    );
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let blob = format!("SET big {}\nGET big\n", "v".repeat(2_000_000));
    for (label, one_in) in [("off", 0), ("1 in 100 (default)", 100), ("always", 1)] {
        let mut server = Command::new(&exe);
        server.args(["--serve", "{addr}", "--buggy", "correct"]);
        let run = Stutter::new("127.0.0.1:0")
            .server(server)
            .blob("big", blob.clone())
            .regressions(Regressions::Off)
            .seed(1)
            .connections(100)
            .disruptions(Disruptions::default().slow_read(Chance::one_in(one_in)))
            .try_run_for(Duration::from_secs(seconds));
        match run {
            Ok(report) => {
                let stats = report.stats();
                let share = if stats.slow_reads > 0 {
                    format!(
                        "{:.0}%",
                        100.0 * stats.backpressured as f64 / stats.slow_reads as f64
                    )
                } else {
                    "-".to_owned()
                };
                println!(
                    "{label:<32} {:>12.0} {:>10} {:>14} {:>7}",
                    stats.deliveries_per_sec(),
                    stats.slow_reads,
                    stats.backpressured,
                    share
                );
            }
            Err(failure) => println!(
                "{label:<32} failed: {}",
                failure.to_string().lines().next().unwrap_or("")
            ),
        }
    }
}

/// How long narrowing takes, and what it concludes, for findings that used to be slow to
/// narrow: a hang (each try waits the whole timeout), one crash among 200 suspects, and a
/// server that dies after 25 connections whatever they carry.
fn narrowing_section() {
    println!(
        "{:<44} {:>14}  conclusion",
        "narrowing (default budget 30 s)", "narrowing"
    );
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let server = |kind: &str| {
        let mut server = Command::new(&exe);
        server.args(["--serve", "{addr}", "--buggy", kind]);
        Stutter::new("127.0.0.1:0")
            .server(server)
            .regressions(Regressions::Off)
            .seed(1)
    };
    let runs = [
        (
            "hang on a split \\r\\n, 2 s response timeout",
            server("straddle")
                .blob("ping", "PING\r\n")
                .blob("get", "GET missing-key\r\n")
                .disruptions(Disruptions::default().close(Chance::NEVER))
                .oracle(AnswerOracle::default().within(Duration::from_secs(2))),
        ),
        (
            "crash 3 bytes into record 3, 200 conns",
            server("record")
                .blob(
                    "session",
                    "SET session:1 alice\nGET session:1\nDEL session:1\nGET session:1\nPING\n",
                )
                .split_mode(stutterfuzz::SplitMode::RecordStarts)
                .connections(200),
        ),
        (
            "dies after 25 connections, 60 conns",
            server("dies-after")
                .blobs(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs"))
                .connections(60),
        ),
    ];
    for (label, fuzz) in runs {
        match fuzz.try_run_for(Duration::from_secs(60)) {
            Err(stutterfuzz::Failure::Finding(finding)) => {
                let took = finding.narrowing_time().unwrap_or_default();
                let text = finding.to_string();
                let conclusion = text
                    .lines()
                    .find(|l| l.starts_with("  culprit   = "))
                    .unwrap_or("  culprit   = ?")
                    .trim_start_matches("  culprit   = ");
                let conclusion: String = conclusion.chars().take(90).collect();
                println!(
                    "{label:<44} {:>12.1} s  {conclusion} ({} suspects)",
                    took.as_secs_f64(),
                    finding.suspects().len()
                );
            }
            _ => println!("{label:<44} {:>14}", "not found"),
        }
    }
}

/// The response oracles' cost in throughput, and how fast bugs are found with them on.
fn oracles_section(seconds: u64) -> ExitCode {
    oracle_cost(seconds);
    println!();
    println!(
        "{:<44} {:>14} {:>9} {:>6}",
        "with both response oracles on (5 runs)", "median", "max", "found"
    );
    for (kind, label) in [
        ("crash", "crashes on a split line"),
        ("wrong", "answers a split wrongly"),
        ("straddle", "hangs on a split \\r\\n"),
        ("panic", "tokio task panics"),
        ("blocking", "blocks on a partial line"),
    ] {
        let mut times: Vec<Duration> = (0..5).filter_map(|_| time_with_oracles(kind)).collect();
        times.sort();
        let found = times.len();
        match (times.get(found / 2), times.last()) {
            (Some(median), Some(max)) => println!(
                "{label:<44} {:>12.3} s {:>7.3} s {found:>4}/5",
                median.as_secs_f64(),
                max.as_secs_f64()
            ),
            _ => println!("{label:<44} {:>14} {:>9} {found:>4}/5", "-", "-"),
        }
    }
    ExitCode::SUCCESS
}

/// Deliveries per second against the correct fixture server at 100 connections, stateless
/// requests, with no response oracle and with both (split invariance and a 2 s response
/// timeout).
fn oracle_cost(seconds: u64) {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let run = |oracles: bool| {
        let mut server = Command::new(&exe);
        server.args(["--serve", "{addr}", "--buggy", "correct"]);
        // Stateless requests (PING, ECHO): nothing one delivery does changes another's answer.
        let mut fuzz = Stutter::new("127.0.0.1:0")
            .server(server)
            .blob("ping", "PING\n")
            .blob(
                "echo",
                "ECHO hello world\nECHO packet boundaries are not message boundaries\nPING\n",
            )
            .regressions(Regressions::Off)
            .seed(1)
            .connections(100);
        if oracles {
            fuzz = fuzz.oracle(AnswerOracle::same().within(Duration::from_secs(2)));
        }
        match fuzz.try_run_for(Duration::from_secs(seconds)) {
            Ok(report) => format!("{:.0}", report.stats().deliveries_per_sec()),
            Err(failure) => format!(
                "failed: {}",
                failure.to_string().lines().next().unwrap_or("")
            ),
        }
    };
    let off = run(false);
    let on = run(true);
    println!(
        "{:<44} {:>14} {:>14}",
        "oracle cost (stateless, 100 conns)", "oracles off", "oracles on"
    );
    println!("{:<44} {:>14} {:>14}", "deliveries/s", off, on);
}

/// How long the default settings with both response oracles on take to report a planted bug
/// (narrowing off; at most 20 s).
fn time_with_oracles(kind: &str) -> Option<Duration> {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve", "{addr}", "--buggy", kind]);
    let fuzz = Stutter::new("127.0.0.1:0")
        .server(server)
        .regressions(Regressions::Off)
        .shrinking(Shrinking::default().time(Duration::ZERO))
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)));
    let fuzz = match kind {
        "straddle" => fuzz
            .blob("ping", "PING\r\n")
            .blob("echo", "ECHO packet boundaries\r\n"),
        _ => fuzz.blobs(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs")),
    };
    let started = std::time::Instant::now();
    match fuzz.try_run_for(Duration::from_secs(20)) {
        Err(stutterfuzz::Failure::Finding(_)) => Some(started.elapsed()),
        _ => None,
    }
}

/// How long the default settings take to report each planted bug (narrowing off, so this
/// is the time to the first finding).
fn time_to_find(kind: &str) -> Option<Duration> {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve", "{addr}", "--buggy", kind]);
    let mut fuzz = Stutter::new("127.0.0.1:0")
        .server(server)
        .regressions(Regressions::Off)
        .shrinking(Shrinking::default().time(Duration::ZERO));
    fuzz = match kind {
        "wrong" => fuzz
            .blobs(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs"))
            .oracle(AnswerOracle::same()),
        "straddle" => fuzz
            .blob("ping", "PING\r\n")
            .blob("echo", "ECHO packet boundaries\r\n")
            .oracle(AnswerOracle::default().within(Duration::from_millis(300))),
        _ => fuzz.blobs(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blobs")),
    };
    let started = std::time::Instant::now();
    match fuzz.try_run_for(Duration::from_secs(60)) {
        Err(stutterfuzz::Failure::Finding(_)) => Some(started.elapsed()),
        _ => None,
    }
}

fn run_one(setting: &str, seconds: u64) -> ExitCode {
    let Some(&(_, connections, mode)) = setting.parse::<usize>().ok().and_then(|i| SETTINGS.get(i))
    else {
        eprintln!("throughput: no setting {setting}");
        return ExitCode::from(2);
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let record = dir.path().join("record.txt");
    let reads = dir.path().join("reads.txt");
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut server = Command::new(exe);
    let addr = match mode {
        Mode::Unix => {
            server.args(["--serve-unix", "{path}", "--log"]).arg(&reads);
            "unix:"
        }
        _ => {
            server.args(["--serve", "{addr}", "--log"]).arg(&reads);
            "127.0.0.1:0"
        }
    };
    if matches!(mode, Mode::Noisy) {
        server.arg("--noisy");
    }
    let mut fuzz = Stutter::new(addr)
        .server(server)
        .blobs(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench"))
        .regressions(Regressions::Off)
        .disruptions(Disruptions::default().close(Chance::NEVER))
        .seed(1)
        .connections(connections)
        .control(stutterfuzz::RunControl::default().record(&record));
    fuzz = match mode {
        Mode::Adaptive | Mode::Noisy | Mode::Unix => fuzz,
        Mode::Pause(ms) => fuzz.pacing(Pacing::AfterAck(Duration::from_millis(ms))),
        Mode::Cycle(ms) => fuzz.pacing(Pacing::Cycle(Duration::from_millis(ms))),
    };
    let cpu_before = cpu_seconds();
    let report = match fuzz.try_run_for(Duration::from_secs(seconds)) {
        Ok(report) => report,
        Err(failure) => {
            eprintln!("{failure}");
            return ExitCode::FAILURE;
        }
    };
    let cpu = (cpu_seconds() - cpu_before) / report.stats().elapsed.as_secs_f64();
    let (fidelity, exact, complete) = compare(&record, &reads);
    let elapsed = report.stats().elapsed.as_secs_f64();
    println!(
        "{:>9.0} {:>12.0} {:>10.0} {:>8.3}% {:>6.1}% {:>8.2} {:>8}",
        report.stats().chunks_per_sec(),
        report.stats().deliveries_per_sec(),
        complete as f64 / elapsed,
        fidelity * 100.0,
        exact * 100.0,
        cpu,
        peak_rss_kib() / 1024
    );
    ExitCode::SUCCESS
}

/// (boundary fidelity, exact-pattern rate, complete deliveries) from the harness's record
/// and the server's read log, joined on the connection's port.
fn compare(record: &Path, reads: &Path) -> (f64, f64, u64) {
    // The server logs a connection when it closes: give the last ones a moment.
    std::thread::sleep(Duration::from_millis(500));
    let sizes =
        |text: &str| -> Vec<u64> { text.split(',').filter_map(|s| s.parse().ok()).collect() };
    // Local ports are reused within a run: the n-th connection from a port in the record is
    // the n-th from that port in the server's log.
    let mut read: HashMap<String, VecDeque<Vec<u64>>> = HashMap::new();
    for line in std::fs::read_to_string(reads).unwrap_or_default().lines() {
        if let Some((port, s)) = line.split_once(' ') {
            read.entry(port.to_owned()).or_default().push_back(sizes(s));
        }
    }
    let (mut intended, mut kept, mut exact, mut deliveries, mut complete) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for line in std::fs::read_to_string(record).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        if line.starts_with('#') || fields.len() < 4 {
            continue;
        }
        let chunks = sizes(fields[1]);
        let total: u64 = chunks.iter().sum();
        if fields[2].parse::<u64>().ok() == Some(total) {
            complete += 1;
        }
        // A Unix socket's connections have no port (the record says 0): they are joined by
        // their pattern when one read the same, else in the order they closed.
        let Some(reads) = read.get_mut(fields[0]).and_then(|from_port| {
            match from_port
                .iter()
                .position(|r| fields[0] == "0" && *r == chunks)
            {
                Some(same) => from_port.remove(same),
                None => from_port.pop_front(),
            }
        }) else {
            continue;
        };
        deliveries += 1;
        let boundaries = |parts: &[u64]| -> Vec<u64> {
            parts
                .iter()
                .scan(0, |at, n| {
                    *at += n;
                    Some(*at)
                })
                .collect()
        };
        let wanted = boundaries(&chunks[..chunks.len().saturating_sub(1)]);
        let seen = boundaries(&reads);
        intended += wanted.len() as u64;
        kept += wanted.iter().filter(|b| seen.contains(b)).count() as u64;
        exact += u64::from(reads == chunks);
    }
    let share = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    (share(kept, intended), share(exact, deliveries), complete)
}

fn cpu_seconds() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage works");
    let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    tv(usage.user_time()) + tv(usage.system_time())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A server on a Unix socket at `path` that logs the sizes of every read() per connection to
/// `log` when the connection closes, as `serve_read_recorder` does for TCP (port 0: a Unix
/// socket's client has none).
fn serve_unix_read_recorder(path: &Path, log: &Path) {
    use std::io::{Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(path).expect("the bench server binds");
    let log = std::sync::Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the read log opens"),
    ));
    for stream in listener.incoming().flatten() {
        let log = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = vec![0u8; 1 << 20];
            let mut sizes = Vec::new();
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                sizes.push(n.to_string());
            }
            let sizes = if sizes.is_empty() {
                "-".to_owned()
            } else {
                sizes.join(",")
            };
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(log, "0 {sizes}");
        });
    }
}

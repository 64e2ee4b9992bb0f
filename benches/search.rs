//! Measures how fast the search finds and narrows what is hard to find: a hang behind the
//! last byte of a 1 KiB blob in a read of its own, on a server that answers about 100
//! commands a second, with both response oracles on (time to find, median of 5 runs, and
//! what the run counted on the way); and how long narrowing takes from a culprit delivered
//! one byte at a time; and what narrowing makes of the HTTP/2 fixture's finding, which needs
//! seven reads ending inside one header block (`--frames-narrowing-only`, seeds 1 to 5).
//!
//! ```text
//! cargo bench --bench search -- [--runs 5]
//! cargo bench --bench search -- --frames-narrowing-only [--runs 5]
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::{Chance, Disruptions, Shrinking};

use stutterfuzz::{Failure, Stutter};

/// The 1 KiB command whose last byte, read alone, is never answered.
fn tail_blob() -> String {
    format!("SET key {}\r\n", "v".repeat(1024 - 10))
}

fn slow_server() -> Command {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve", "{addr}"]);
    server
}

/// An independent sink, in a process of its own: it reads and discards every connection's
/// bytes; with `--receipts`, it writes one byte back after every read (what the reference
/// sender paces by).
fn sink(addr: &str) {
    use std::io::{Read, Write};
    let receipts = std::env::args().any(|a| a == "--receipts");
    let listener = std::net::TcpListener::bind(addr).expect("the sink binds");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if receipts && stream.write_all(&[n.min(255) as u8]).is_err() {
                    return;
                }
            }
        });
    }
}

fn spawn_sink(receipts: bool) -> (std::process::Child, std::net::SocketAddr) {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = probe.local_addr().expect("its address");
    drop(probe);
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut command = Command::new(exe);
    command.args(["--sink", &addr.to_string()]);
    if receipts {
        command.arg("--receipts");
    }
    let child = command.spawn().expect("the sink starts");
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, addr)
}

/// Boundaries kept per second on one connection: a minimal reference sender (one connection
/// held open, each chunk of the bench corpus's blobs written once the sink's receipt of the
/// one before came back), then stutterfuzz with one connection, with its defaults and with
/// stalls, slow reads, early closes and fast open off. 5 s each.
fn one_connection_rows() {
    use std::io::{Read, Write};
    let seconds = 5.0;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench");
    let (mut child, addr) = spawn_sink(true);
    let mut stream = std::net::TcpStream::connect(addr).expect("the sink accepts");
    stream.set_nodelay(true).expect("nodelay");
    let started = Instant::now();
    let mut boundaries = 0u64;
    let mut receipt = [0u8; 1];
    while started.elapsed().as_secs_f64() < seconds {
        // Chunks of 1 to 16 bytes, as a split pattern cuts them.
        for size in 1..=16usize {
            stream.write_all(&vec![b'x'; size]).expect("the sink reads");
            stream
                .read_exact(&mut receipt)
                .expect("the sink answers each read");
            boundaries += 1;
        }
    }
    let reference = boundaries as f64 / started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    println!("one connection, boundaries kept per second (5 s each)");
    println!("  reference sender (receipt per read):        {reference:>8.0}");
    for (label, extras) in [
        ("stutterfuzz, defaults", Some(1000)),
        ("stutterfuzz, 1 in 100 pausing a second", Some(100)),
        ("stutterfuzz, no stalls/slow/close/fastopen", None),
    ] {
        let (mut child, addr) = spawn_sink(false);
        let mut fuzz = Stutter::new(addr.to_string())
            .blobs(&corpus)
            .connections(1)
            .regressions(Regressions::Off)
            .seed(1);
        if let Some(one_in) = extras {
            fuzz = fuzz.disruptions(Disruptions::default().stall(Chance::one_in(one_in)));
        } else {
            fuzz = fuzz.disruptions(Disruptions::none());
        }
        let report = fuzz.run_for(Duration::from_secs_f64(seconds));
        let stats = report.stats();
        let kept = stats
            .chunks
            .saturating_sub(stats.deliveries + stats.unread_before_next);
        let rate = kept as f64 / stats.elapsed.as_secs_f64();
        println!(
            "  {label:<44} {rate:>8.0}  ({:.2}x; {} deliveries, {} paused, {} slow)",
            rate / reference,
            stats.deliveries,
            stats.stalled,
            stats.slow_reads
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Inputs per second through the framed fixture's fuzz target (as `fuzz/fuzz_targets/framed.rs`
/// builds it, without libFuzzer): 2,000 inputs of 5 pseudo-random bytes (the few that find
/// its planted bug are counted, and the target goes on).
fn fuzz_target_row() {
    let frames = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/framed/frames.bin"
    ))
    .expect("the framed fixture's blob");
    let target = Stutter::serve(stutterfuzz_fixtures::framed::serve_framed_buggy)
        .blob("frames.bin", frames)
        .fuzz_target()
        .expect("the fuzz target starts");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut input = || {
        (0..5)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect::<Vec<u8>>()
    };
    let n = 2000;
    let started = Instant::now();
    let mut found = 0;
    let mut each: Vec<(f64, String)> = Vec::with_capacity(n);
    for _ in 0..n {
        let i = input();
        let one = Instant::now();
        let result = target.try_run(&i);
        each.push((
            one.elapsed().as_secs_f64() * 1000.0,
            target.case(&i).to_string(),
        ));
        match result {
            Ok(_) => {}
            Err(Failure::Finding(_)) => found += 1,
            Err(e) => panic!("the fuzz target failed: {e}"),
        }
    }
    let took = started.elapsed().as_secs_f64();
    each.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "fuzz target (framed): {n} inputs ({found} findings) in {took:.2} s, {:.0} inputs/s, mean {:.2} ms, median {:.2} ms; slowest:",
        n as f64 / took,
        took * 1000.0 / n as f64,
        each[n / 2].0
    );
    for (ms, case) in each.iter().take(3) {
        println!("  {ms:.1} ms {case}");
    }
}

/// Narrowing from a culprit delivered one byte at a time: the server that crashes on a
/// read ending 3 bytes into a later record, given a 300-byte blob of records, its first 64
/// bytes one per chunk (`SplitMode::Bytewise`). How long narrowing takes and what it ends at.
fn narrowing_row() {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve-record", "{addr}"]);
    let records: String = (0..15)
        .map(|i| format!("SET key:{i:02} value-{i:02}\n"))
        .collect();
    let fuzz = Stutter::new("127.0.0.1:0")
        .server(server)
        .regressions(Regressions::Off)
        .seed(1)
        .blob("records", records.clone())
        .split_mode(stutterfuzz::SplitMode::Bytewise)
        .connections(1);
    let started = Instant::now();
    match fuzz.try_run_for(Duration::from_secs(120)) {
        Err(Failure::Finding(finding)) => {
            let text = finding.to_string();
            let line = |key: &str| {
                text.lines()
                    .find(|l| l.starts_with(key))
                    .unwrap_or("?")
                    .to_owned()
            };
            println!(
                "narrowing a {}-byte blob sent bytewise: {:.1} s in all, narrowing {:.1} s\n{}\n{}",
                records.len(),
                started.elapsed().as_secs_f64(),
                finding.narrowing_time().unwrap_or_default().as_secs_f64(),
                line("  culprit"),
                line("  minimal")
            );
        }
        other => println!("narrowing row: no finding: {other:?}"),
    }
}

/// Narrowing a hang: the server that misses a `\r\n` whose `\r` ended the previous read,
/// a 5-line blob, the response timeout alone (300 ms), `runs` seeds. How often narrowing
/// ends locally minimal, and how long it takes.
fn hang_narrowing_rows(runs: u64) {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let blob = "PING\r\nECHO packet boundaries are here\r\nGET missing-key\r\nECHO another line of text\r\nPING\r\n";
    println!("narrowing a hang (a 5-line blob, 300 ms response timeout), {runs} seeds");
    let (mut minimal, mut times) = (0, Vec::new());
    for seed in 1..=runs {
        let mut server = Command::new(&exe);
        server.args(["--serve-straddle", "{addr}"]);
        let fuzz = Stutter::new("127.0.0.1:0")
            .server(server)
            .regressions(Regressions::Off)
            .seed(seed)
            .blob("lines", blob)
            .oracle(AnswerOracle::none().within(Duration::from_millis(300)));
        match fuzz.try_run_for(Duration::from_secs(60)) {
            Err(Failure::Finding(finding)) => {
                let text = finding.to_string();
                let line = text
                    .lines()
                    .find(|l| l.starts_with("  minimal"))
                    .unwrap_or("  minimal   = none")
                    .to_owned();
                let took = finding.narrowing_time().unwrap_or_default();
                minimal += usize::from(line.contains("(locally minimal"));
                times.push(took);
                println!(
                    "  seed {seed}: narrowing {:.1} s;{}",
                    took.as_secs_f64(),
                    &line[13..]
                );
            }
            other => println!("  seed {seed}: no finding: {other:?}"),
        }
    }
    times.sort();
    if let (Some(median), Some(max)) = (times.get(times.len() / 2), times.last()) {
        println!(
            "locally minimal {minimal}/{runs}, shrinking budget ran out {}/{runs}; narrowing median {:.1} s, max {:.1} s",
            times.len() - minimal,
            median.as_secs_f64(),
            max.as_secs_f64()
        );
    }
}

/// Narrowing the HTTP/2 fixture's finding (GOAWAY when seven reads or more end inside one
/// header block) on `fixtures/h2/get.bin`, as `tests/it/frames.rs` does: 10 s of fuzzing,
/// 5 s of narrowing, seeds 1 to `runs`. The minimal case, its chunks, the narrowing time.
fn frames_narrowing_rows(runs: u64) {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/h2");
    println!("narrowing the HTTP/2 header-block finding (5 s budget), {runs} seeds");
    let (mut minimal, mut chunks, mut times) = (0, Vec::new(), Vec::new());
    for seed in 1..=runs {
        let mut server = Command::new(&exe);
        server.args(["--serve-h2", "{addr}"]);
        let fuzz = Stutter::new("127.0.0.1:0")
            .server(server)
            .regressions(Regressions::Off)
            .seed(seed)
            .blobs(&dir)
            .shrinking(Shrinking::default().time(Duration::from_secs(5)));
        let Err(Failure::Finding(finding)) = fuzz.try_run_for(Duration::from_secs(10)) else {
            println!("  seed {seed}: no finding");
            continue;
        };
        let text = finding.to_string();
        let line = text
            .lines()
            .find(|l| l.starts_with("  minimal"))
            .unwrap_or("  minimal   = none")
            .to_owned();
        let took = finding.narrowing_time().unwrap_or_default();
        let n = finding.minimal().map_or(0, |c| c.splits().len());
        minimal += usize::from(line.contains("(locally minimal"));
        chunks.push(n);
        times.push(took);
        println!(
            "  seed {seed}: narrowing {:.1} s, {n} chunks;{}",
            took.as_secs_f64(),
            line.get(13..).unwrap_or("")
        );
    }
    times.sort();
    chunks.sort_unstable();
    if let (Some(median), Some(max)) = (times.get(times.len() / 2), times.last()) {
        println!(
            "locally minimal {minimal}/{runs}; chunks median {}, max {}; narrowing median {:.1} s, max {:.1} s",
            chunks[chunks.len() / 2],
            chunks[chunks.len() - 1],
            median.as_secs_f64(),
            max.as_secs_f64()
        );
    }
}

fn tail_run(seed: u64) -> (Option<Duration>, String) {
    let fuzz = Stutter::new("127.0.0.1:0")
        .server(slow_server())
        .regressions(Regressions::Off)
        .seed(seed)
        .shrinking(Shrinking::default().time(Duration::ZERO))
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .blob("tail", tail_blob());
    let started = Instant::now();
    match fuzz.try_run_for(Duration::from_secs(30)) {
        Err(Failure::Finding(finding)) => {
            let stats = if std::env::var_os("SHOW").is_some() {
                finding.to_string()
            } else {
                finding.stats().to_string()
            };
            (Some(started.elapsed()), stats)
        }
        Err(other) => (None, other.to_string()),
        Ok(report) => (None, report.stats().to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-record") {
        let listener = std::net::TcpListener::bind(&args[i + 1]).expect("the bench server binds");
        stutterfuzz_fixtures::servers::serve_record_crash(listener, std::time::Duration::ZERO);
        return ExitCode::SUCCESS;
    }
    if let Some(i) = args.iter().position(|a| a == "--sink") {
        sink(&args[i + 1]);
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--one-connection-only") {
        one_connection_rows();
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--fuzz-target-only") {
        fuzz_target_row();
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--narrowing-only") {
        narrowing_row();
        return ExitCode::SUCCESS;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve-straddle") {
        let listener = std::net::TcpListener::bind(&args[i + 1]).expect("the bench server binds");
        stutterfuzz_fixtures::servers::serve_straddle_hang(listener);
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--hang-narrowing-only") {
        hang_narrowing_rows(5);
        return ExitCode::SUCCESS;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let listener = std::net::TcpListener::bind(&args[i + 1]).expect("the bench server binds");
        stutterfuzz_fixtures::servers::serve_slow_straddle_hang(
            listener,
            Duration::from_millis(10),
        );
        return ExitCode::SUCCESS;
    }
    let runs: u64 = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    if let Some(i) = args.iter().position(|a| a == "--serve-h2") {
        let listener = std::net::TcpListener::bind(&args[i + 1]).expect("the bench server binds");
        stutterfuzz_fixtures::h2::serve_h2_buggy_process(listener);
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--frames-narrowing-only") {
        frames_narrowing_rows(runs);
        return ExitCode::SUCCESS;
    }
    println!("rare tail cut, slow server (~100 commands/s), both oracles, 2 s response timeout");
    let mut times = Vec::new();
    for seed in 1..=runs {
        let (took, stats) = tail_run(seed);
        match took {
            Some(t) => {
                println!("  seed {seed}: found in {:.2} s; {stats}", t.as_secs_f64());
                times.push(t);
            }
            None => println!("  seed {seed}: not found in 30 s; {stats}"),
        }
    }
    times.sort();
    if let (Some(median), Some(max)) = (times.get(times.len() / 2), times.last()) {
        println!(
            "median {:.2} s, max {:.2} s, found {}/{runs}",
            median.as_secs_f64(),
            max.as_secs_f64(),
            times.len()
        );
    }
    ExitCode::SUCCESS
}

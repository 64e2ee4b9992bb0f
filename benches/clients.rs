//! Measures the client direction: how many client runs and cuts per second, how many cuts
//! the client read alone (fidelity), and how long the fixture clients' bugs take to find.
//!
//! ```text
//! cargo bench --bench clients -- [--seconds N]
//! ```
//!
//! Rows: an async client in this process against recorded answers; `redis-cli` against
//! `redis-server` through the relay (Debian's redis-tools and redis-server); the Python and
//! Perl fixture clients (correct twins for throughput, buggy ones for time to find, median of
//! 5 seeds).

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use stutterfuzz::{ClientReport, StutterClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANSWERS: &str = "fixtures/client/answers";

async fn greeting(addr: SocketAddr) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(b"GET greeting\r\n").await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 19 {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

fn row(name: &str, report: &ClientReport, seconds: f64) {
    println!(
        "| {name} | {:.0} | {:.0} | {:.1} % |",
        report.runs() as f64 / seconds,
        report.boundaries() as f64 / seconds,
        report.fidelity() * 100.0
    );
}

fn timed(client: StutterClient, budget: Duration) -> (ClientReport, f64) {
    let start = Instant::now();
    let report = client.run_for(budget);
    (report, start.elapsed().as_secs_f64())
}

fn script(interpreter: &str, path: &str, buggy: bool) -> StutterClient {
    let mut command = Command::new(interpreter);
    command.args([path, "{host}", "{port}"]);
    if buggy {
        command.arg("--buggy");
    }
    StutterClient::command(command).answers(ANSWERS)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let budget = Duration::from_secs(seconds);
    println!("Client direction, {seconds} s per row, default settings (4 runs side by side)\n");
    println!("| client | runs/s | cuts/s | cuts read alone |");
    println!("|---|---:|---:|---:|");
    let (report, took) = timed(
        StutterClient::function(greeting).answers(ANSWERS).seed(1),
        budget,
    );
    row("async fn in process, recorded answers", &report, took);
    let mut redis_cli = Command::new("redis-cli");
    redis_cli.args([
        "-h",
        "{host}",
        "-p",
        "{port}",
        "EVAL",
        "return {1,2,'three',{'x','yz'}}",
        "0",
    ]);
    let mut redis_server = Command::new("redis-server");
    redis_server.args(["--port", "{port}", "--save", "", "--appendonly", "no"]);
    let (report, took) = timed(
        StutterClient::command(redis_cli)
            .server(redis_server)
            .seed(1),
        budget,
    );
    row("redis-cli, redis-server relayed", &report, took);
    for (interpreter, path) in [
        ("python3", "fixtures/client/bin/http_get.py"),
        ("perl", "fixtures/client/bin/frame_client.pl"),
    ] {
        let (report, took) = timed(script(interpreter, path, false).seed(1), budget);
        row(
            &format!("{interpreter} fixture (correct twin)"),
            &report,
            took,
        );
    }
    println!("\nTime to find (median of 5 seeds, with confirmation and narrowing)\n");
    println!("| buggy client | median s | max s | found |");
    println!("|---|---:|---:|---:|");
    for (interpreter, path) in [
        ("python3", "fixtures/client/bin/http_get.py"),
        ("perl", "fixtures/client/bin/frame_client.pl"),
    ] {
        let mut times = Vec::new();
        for seed in 1..=5u64 {
            let start = Instant::now();
            let found = script(interpreter, path, true)
                .seed(seed)
                .try_run_for(Duration::from_secs(60))
                .is_err_and(|f| f.finding().is_some());
            if found {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
        let max = times.last().copied().unwrap_or(f64::NAN);
        println!(
            "| {interpreter} | {median:.2} | {max:.2} | {}/5 |",
            times.len()
        );
    }
}

//! Measures where the generator cuts framed blobs, with frames known and as before they were:
//! for the HTTP/2 and WebSocket sample blobs (`fixtures/h2`, `fixtures/ws`), the share of all
//! cuts that fall inside a frame header (after its first byte, before its last), the share of
//! deliveries with such a cut, and the share with seven or more inside one header (what
//! nghttp2's bug #2817 needs), any header and one past the first 64 bytes (which the
//! one-byte-at-a-time mode cuts at every byte); frame headers are found here, apart from the
//! library. Then the
//! time the default settings take to find each planted frame bug (`h2-frame-server-buggy`,
//! `ws-frame-server-buggy`), median and max of the runs.
//!
//! ```text
//! cargo bench --bench frames -- [--draws 100000] [--runs 5]
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use stutterfuzz::{Regressions, Seed, Shrinking, Stutter, drawn_patterns};

/// The HTTP/2 client preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let (Some(addr), Some(kind)) = (value("--serve"), value("--fixture")) {
        let listener = std::net::TcpListener::bind(&addr).expect("the bench server binds");
        match kind.as_str() {
            "h2" => stutterfuzz_fixtures::h2::serve_h2_buggy_process(listener),
            _ => stutterfuzz_fixtures::websocket::serve_ws_buggy_process(listener),
        }
        return ExitCode::SUCCESS;
    }
    let number = |flag: &str, default: u64| value(flag).map_or(Some(default), |v| v.parse().ok());
    let (Some(draws), Some(runs)) = (number("--draws", 100_000), number("--runs", 5)) else {
        eprintln!("frames: --draws and --runs take whole numbers");
        return ExitCode::from(2);
    };
    cut_table(draws);
    println!();
    find_table(runs);
    ExitCode::SUCCESS
}

/// Where `draws` deliveries of each sample blob are cut, before and with frames known.
fn cut_table(draws: u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let h2 = std::fs::read(root.join("h2/get.bin")).expect("the HTTP/2 blob");
    let ws = std::fs::read(root.join("ws/chat.bin")).expect("the WebSocket blob");
    println!(
        "{:<40} {:>12} {:>14} {:>17} {:>17}",
        "cuts inside frame headers",
        "of all cuts",
        "of deliveries",
        "7+ in one header",
        "7+, past byte 64"
    );
    for (label, blob, headers) in [
        ("HTTP/2 blob (get.bin)", &h2, http2_headers(&h2)),
        ("WebSocket blob (chat.bin)", &ws, websocket_headers(&ws)),
    ] {
        for (generator, frames) in [("before", false), ("frames known", true)] {
            let shares = shares(blob, &headers, draws, frames).map(|s| 100.0 * s);
            println!(
                "{:<40} {:>11.2}% {:>13.2}% {:>16.2}% {:>16.2}%",
                format!("{label}, {generator}"),
                shares[0],
                shares[1],
                shares[2],
                shares[3]
            );
        }
    }
}

/// The time to find each planted frame bug over `runs` seeds.
fn find_table(runs: u64) {
    println!(
        "{:<40} {:>10} {:>10} {:>7}",
        "time to find (default settings)", "median", "max", "found"
    );
    for (label, kind) in [
        ("h2-frame-server-buggy", "h2"),
        ("ws-frame-server-buggy", "ws"),
    ] {
        let mut times: Vec<Duration> = (1..=runs)
            .filter_map(|seed| time_to_find(kind, seed))
            .collect();
        times.sort();
        let seconds = |t: Option<&Duration>| {
            t.map_or("-".to_owned(), |t| format!("{:.2} s", t.as_secs_f64()))
        };
        let (median, max) = (seconds(times.get(times.len() / 2)), seconds(times.last()));
        println!(
            "{label:<40} {median:>10} {max:>10} {:>5}/{runs}",
            times.len()
        );
    }
}

/// Over `draws` deliveries of the default mix: the share of cuts strictly inside one of
/// `headers` (start, length), of deliveries with one, of deliveries with seven or more inside
/// one header, and inside one that starts past byte 64.
fn shares(blob: &[u8], headers: &[(usize, usize)], draws: u64, frames: bool) -> [f64; 4] {
    let (mut cuts, mut inside, mut deliveries) = (0u64, 0u64, 0u64);
    let (mut seven, mut deep) = (0u64, 0u64);
    for splits in drawn_patterns(blob, Seed::new(1), draws, frames) {
        let boundaries: Vec<usize> = splits.boundaries().collect();
        let per_header: Vec<(usize, usize)> = headers
            .iter()
            .map(|&(at, len)| {
                let n = boundaries.iter().filter(|&&b| b > at && b < at + len);
                (at, n.count())
            })
            .collect();
        cuts += boundaries.len() as u64;
        inside += per_header.iter().map(|&(_, n)| n as u64).sum::<u64>();
        deliveries += u64::from(per_header.iter().any(|&(_, n)| n > 0));
        seven += u64::from(per_header.iter().any(|&(_, n)| n >= 7));
        deep += u64::from(per_header.iter().any(|&(at, n)| at > 64 && n >= 7));
    }
    let draws = draws.max(1) as f64;
    [
        inside as f64 / cuts.max(1) as f64,
        deliveries as f64 / draws,
        seven as f64 / draws,
        deep as f64 / draws,
    ]
}

/// The frame headers of an HTTP/2 blob that begins with the preface.
fn http2_headers(blob: &[u8]) -> Vec<(usize, usize)> {
    let mut headers = Vec::new();
    let mut at = PREFACE.len();
    while let Some(h) = blob.get(at..at + 9) {
        headers.push((at, 9));
        at += 9 + (usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]));
    }
    headers
}

/// The frame headers of a WebSocket blob: an upgrade request, then masked frames.
fn websocket_headers(blob: &[u8]) -> Vec<(usize, usize)> {
    let mut headers = Vec::new();
    let mut at = blob
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a request head")
        + 4;
    while let Some(&[_, b1]) = blob.get(at..at + 2) {
        let (extended, len) = match b1 & 0x7f {
            126 => (
                2,
                usize::from(u16::from_be_bytes([blob[at + 2], blob[at + 3]])),
            ),
            short => (0, usize::from(short)),
        };
        headers.push((at, 2 + extended + 4));
        at += 2 + extended + 4 + len;
    }
    headers
}

/// How long the default settings take to find the planted bug of the `kind` fixture on its
/// blob (no narrowing), 60 s at most.
fn time_to_find(kind: &str, seed: u64) -> Option<Duration> {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut server = Command::new(exe);
    server.args(["--serve", "{addr}", "--fixture", kind]);
    let started = Instant::now();
    let run = Stutter::new("127.0.0.1:0")
        .server(server)
        .blobs(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(kind),
        )
        .regressions(Regressions::Off)
        .shrinking(Shrinking::default().time(Duration::ZERO))
        .seed(seed)
        .try_run_for(Duration::from_secs(60));
    match run {
        Err(stutterfuzz::Failure::Finding(_)) => Some(started.elapsed()),
        _ => None,
    }
}

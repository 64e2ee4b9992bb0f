//! Measures where the generator cuts framed blobs, with frames known and as before they were:
//! for the HTTP/2 and WebSocket sample blobs (`fixtures/h2`, `fixtures/ws`), the share of all
//! cuts that fall inside a frame header (after its first byte, before its last), the share of
//! deliveries with such a cut, and the share with seven or more inside one header (what
//! nghttp2's bug #2817 needs), any header and one past the first 64 bytes (which the
//! one-byte-at-a-time mode cuts at every byte); frame headers are found here, apart from the
//! library. The same for the client direction, over a server's answers as client mode cuts
//! them: an HTTP/2 server's (built here: SETTINGS, WINDOW_UPDATE, a SETTINGS ACK, a response
//! in HEADERS and two DATA frames, a PING ACK) and a WebSocket server's (the recorded
//! `fixtures/client/ws/chat.ws`), read as answers and as client mode read them before (as a
//! client's requests). Then the time the default settings take to find each planted frame
//! bug (`h2-frame-server-buggy`, `ws-frame-server-buggy`, and the client `ws-frame-client
//! --buggy` against the recorded answers), median and max of the runs.
//!
//! ```text
//! cargo bench --bench frames -- [--draws 100000] [--runs 5]
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use stutterfuzz::{
    Regressions, Seed, Shrinking, Splits, Stutter, StutterClient, drawn_answer_patterns,
    drawn_patterns,
};

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
    if let Some(addr) = value("--ws-client") {
        let buggy = args.iter().any(|a| a == "--buggy");
        let talked = stutterfuzz_fixtures::ws_client::talk(&addr, buggy, &mut std::io::stdout());
        return ExitCode::from(u8::from(talked.is_err()));
    }
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

/// Draws the patterns of a sample: `(bytes, seed, deliveries, with frames known)`.
type Draw = fn(&[u8], Seed, u64, bool) -> Vec<Splits>;

/// Where `draws` deliveries of each sample blob are cut, before and with frames known; then
/// the same for the sample answers of the client direction.
fn cut_table(draws: u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let h2 = std::fs::read(root.join("h2/get.bin")).expect("the HTTP/2 blob");
    let ws = std::fs::read(root.join("ws/chat.bin")).expect("the WebSocket blob");
    let h2_answers = http2_answers();
    let ws_answers = recorded_answers(&root.join("client/ws/chat.ws"));
    println!(
        "{:<44} {:>12} {:>14} {:>17} {:>17}",
        "cuts inside frame headers",
        "of all cuts",
        "of deliveries",
        "7+ in one header",
        "7+, past byte 64"
    );
    let rows: [(&str, &[u8], _, Draw); 4] = [
        (
            "HTTP/2 blob (get.bin)",
            &h2,
            http2_headers(&h2, PREFACE.len()),
            drawn_patterns,
        ),
        (
            "WebSocket blob (chat.bin)",
            &ws,
            websocket_headers(&ws),
            drawn_patterns,
        ),
        (
            "HTTP/2 server's answers",
            &h2_answers,
            http2_headers(&h2_answers, 0),
            drawn_answer_patterns,
        ),
        (
            "WebSocket answers (chat.ws)",
            &ws_answers,
            websocket_headers(&ws_answers),
            drawn_answer_patterns,
        ),
    ];
    for (label, blob, headers, draw) in rows {
        for (generator, frames) in [("before", false), ("frames known", true)] {
            let patterns = draw(blob, Seed::new(1), draws, frames);
            let shares = shares(&patterns, &headers).map(|s| 100.0 * s);
            println!(
                "{:<44} {:>11.2}% {:>13.2}% {:>16.2}% {:>16.2}%",
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
        ("ws-frame-client --buggy (client mode)", "ws-client"),
    ] {
        let mut times: Vec<Duration> = (1..=runs)
            .filter_map(|seed| match kind {
                "ws-client" => client_time_to_find(seed),
                _ => time_to_find(kind, seed),
            })
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

/// Over `patterns` (deliveries of the default mix): the share of cuts strictly inside one of
/// `headers` (start, length), of deliveries with one, of deliveries with seven or more inside
/// one header, and inside one that starts past byte 64.
fn shares(patterns: &[Splits], headers: &[(usize, usize)]) -> [f64; 4] {
    let (mut cuts, mut inside, mut deliveries) = (0u64, 0u64, 0u64);
    let (mut seven, mut deep) = (0u64, 0u64);
    for splits in patterns {
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
    let draws = patterns.len().max(1) as f64;
    [
        inside as f64 / cuts.max(1) as f64,
        deliveries as f64 / draws,
        seven as f64 / draws,
        deep as f64 / draws,
    ]
}

/// The frame headers of HTTP/2 frames from byte `from` of `blob` (after the preface, or 0
/// for a server's answers).
fn http2_headers(blob: &[u8], from: usize) -> Vec<(usize, usize)> {
    let mut headers = Vec::new();
    let mut at = from;
    while let Some(h) = blob.get(at..at + 9) {
        headers.push((at, 9));
        at += 9 + (usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]));
    }
    headers
}

/// An HTTP/2 server's answers to a `GET`: SETTINGS, WINDOW_UPDATE, a SETTINGS ACK, a
/// response's HEADERS and two DATA frames (1,500 bytes), a PING ACK.
fn http2_answers() -> Vec<u8> {
    use stutterfuzz_fixtures::h2::frame;
    let mut out = frame(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 0x60, 0, 0]);
    out.extend(frame(8, 0, 0, &[0, 0x5f, 0, 1]));
    out.extend(frame(4, 1, 0, b""));
    // :status 200, then content-type and content-length, literal.
    let block = b"\x88\x5f\x0atext/plain\x5c\x041500";
    out.extend(frame(1, 4, 1, block));
    out.extend(frame(0, 0, 1, &[b'a'; 1000]));
    out.extend(frame(0, 1, 1, &[b'b'; 500]));
    out.extend(frame(6, 1, 0, b"stutter!"));
    out
}

/// What a recorded conversation heard, its `#~ heard` lines decoded (`%XX`) and joined.
fn recorded_answers(path: &Path) -> Vec<u8> {
    let text = std::fs::read(path).expect("the recorded conversation");
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(heard) = line.strip_prefix(b"#~ heard ") else {
            continue;
        };
        let mut bytes = heard.iter();
        while let Some(&b) = bytes.next() {
            let hex = |b: Option<&u8>| char::from(*b.expect("two hex digits")).to_digit(16);
            out.push(match b {
                b'%' => {
                    (hex(bytes.next()).expect("hex") * 16 + hex(bytes.next()).expect("hex")) as u8
                }
                b => b,
            });
        }
    }
    out
}

/// The frame headers of a WebSocket blob: an upgrade request or its `101` answer, then
/// frames (a client's masked, a server's not).
fn websocket_headers(blob: &[u8]) -> Vec<(usize, usize)> {
    let mut headers = Vec::new();
    let mut at = blob
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    while let Some(&[_, b1]) = blob.get(at..at + 2) {
        let (extended, len) = match b1 & 0x7f {
            126 => (
                2,
                usize::from(u16::from_be_bytes([blob[at + 2], blob[at + 3]])),
            ),
            short => (0, usize::from(short)),
        };
        let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
        headers.push((at, 2 + extended + mask));
        at += 2 + extended + mask + len;
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

/// How long client mode's default settings take to find the planted bug of the WebSocket
/// fixture client against its recorded answers (no narrowing), 60 s at most.
fn client_time_to_find(seed: u64) -> Option<Duration> {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut client = Command::new(exe);
    client.args(["--ws-client", "{addr}", "--buggy"]);
    let started = Instant::now();
    let run = StutterClient::command(client)
        .answers(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/client/ws"))
        .regressions(Regressions::Off)
        .shrinking(Shrinking::default().time(Duration::ZERO))
        .seed(seed)
        .try_run_for(Duration::from_secs(60));
    run.is_err_and(|f| f.finding().is_some())
        .then(|| started.elapsed())
}

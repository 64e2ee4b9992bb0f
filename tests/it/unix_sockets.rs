//! Servers on Unix domain stream sockets: every boundary kept (an independent sink says what
//! it read), real servers clean with both oracles, a bug only the socket path has found and
//! narrowed, and a socket that is not there said in one line.

use crate::common;

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stutterfuzz::{AnswerOracle, Disruptions, Regressions, RunControl, Shrinking, StutterClient};

use common::{blob_dir, fixture, fixtures_dir};

/// A sink on a Unix socket that reads until each connection closes and keeps the sizes of
/// its reads, connection by connection, in the order they came (connections that sent
/// nothing left out).
fn sink(path: &std::path::Path) -> Arc<Mutex<Vec<Vec<usize>>>> {
    let listener = UnixListener::bind(path).unwrap();
    let reads = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&reads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut sizes = Vec::new();
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                sizes.push(n);
            }
            // The harness's check that something listens sends nothing.
            if !sizes.is_empty() {
                kept.lock().unwrap().push(sizes);
            }
        }
    });
    reads
}

#[test]
fn every_boundary_is_kept_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sink.sock");
    let record = dir.path().join("record.txt");
    let reads = sink(&socket);
    // One connection at a time: the sink's connections come in the record's order.
    let report = common::stutter(format!("unix:{}", socket.display()))
        .blobs(blob_dir())
        .oracle(AnswerOracle::none())
        .disruptions(Disruptions::none())
        .connections(1)
        .cycles(20)
        .control(RunControl::default().record(&record))
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 100, "{report}");
    let sent: Vec<Vec<usize>> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let sizes = l.split(' ').nth(1).unwrap();
            sizes.split(',').map(|n| n.parse().unwrap()).collect()
        })
        .collect();
    common::wait_until(
        "the sink read every delivery",
        Duration::from_secs(10),
        || reads.lock().unwrap().len() >= sent.len(),
    );
    let read = reads.lock().unwrap().clone();
    let kept = sent.iter().zip(&read).filter(|(s, r)| s == r).count();
    assert_eq!(
        kept,
        sent.len(),
        "each chunk read on its own: sent {sent:?}\nread {read:?}"
    );
    assert!(sent.iter().any(|chunks| chunks.len() > 1), "cut at all");
}

#[test]
fn a_bug_only_the_unix_socket_path_has_is_found_and_narrowed() {
    let server = || {
        let mut command = Command::new(fixture("unix-line-server"));
        command.args(["--listen", "{addr}"]);
        command
    };
    // Over TCP the same server is correct.
    common::stutter("127.0.0.1:0")
        .server(server())
        .blobs(blob_dir())
        .cycles(20)
        .run_for(Duration::from_secs(60));
    let failure = common::stutter("unix:")
        .server(server())
        .blobs(blob_dir())
        .shrinking(Shrinking::default().time(Duration::from_secs(10)))
        .try_run_for(Duration::from_secs(60))
        .expect_err("the socket path's bug is found");
    let finding = failure.finding().expect("a finding");
    let text = finding.to_string();
    assert!(text.contains("address   = unix:"), "{text}");
    assert!(text.contains("(each | is a cut)"), "{text}");
    let minimal = finding.minimal().expect("narrowed");
    assert!(minimal.splits().len() <= 3, "{text}");
}

#[test]
fn redis_and_memcached_on_unix_sockets_have_no_false_alarm() {
    common::require("redis-server", "redis-server");
    common::require("memcached", "memcached");
    let mut redis = Command::new("redis-server");
    redis.args([
        "--port",
        "0",
        "--unixsocket",
        "{path}",
        "--save",
        "",
        "--appendonly",
        "no",
    ]);
    let mut memcached = Command::new("memcached");
    memcached.args(["-s", "{path}", "-U", "0"]);
    if nix::unistd::geteuid().is_root() {
        memcached.args(["-u", "root"]);
    }
    for (server, blobs) in [(redis, "redis"), (memcached, "memcached")] {
        let report = common::stutter("unix:")
            .server(server)
            .blobs(fixtures_dir(blobs))
            // Both answer oracles: the same answer as whole, and in time.
            .oracle(AnswerOracle::default().within(Duration::from_secs(2)))
            .oracle(AnswerOracle::default().isolate_blobs(true))
            .connections(20)
            .cycles(20)
            .try_run_for(Duration::from_secs(60))
            .unwrap_or_else(|f| panic!("{blobs} on a Unix socket: no false alarm:\n{f}"));
        assert!(report.stats().deliveries > 0, "{report}");
    }
}

#[test]
fn postgres_on_a_unix_socket_has_no_false_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("sock");
    std::fs::create_dir(&sockets).unwrap();
    let sockets_arg = format!("unix_socket_directories={}", sockets.display());
    let server = common::postgres(
        dir.path(),
        &["-p", "5432", "-c", "listen_addresses=", "-c", &sockets_arg],
    );
    for oracle in [
        AnswerOracle::same().within(Duration::from_secs(2)),
        AnswerOracle::none(),
    ] {
        let report = common::stutter(format!("unix:{}/.s.PGSQL.5432", sockets.display()))
            .server(clone_command(&server))
            .blobs(fixtures_dir("real/postgres"))
            .oracle(oracle)
            .connections(8)
            .cycles(30)
            .try_run_for(Duration::from_secs(60))
            .unwrap_or_else(|f| panic!("postgres on a Unix socket: no false alarm:\n{f}"));
        assert_eq!(report.stats().deliveries, 30, "{report}");
    }
}

/// The same command again (a `Command` is not `Clone`).
fn clone_command(command: &Command) -> Command {
    let mut again = Command::new(command.get_program());
    again.args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        again.current_dir(dir);
    }
    again
}

#[test]
fn a_socket_that_is_not_there_is_one_line_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let failure = common::stutter(format!("unix:{}", missing.display()))
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(10))
        .expect_err("nothing to fuzz");
    let text = failure.to_string();
    assert!(failure.setup_error().is_some(), "{text}");
    assert!(
        text.contains("no socket at") && text.contains("start the server first"),
        "{text}"
    );
}

#[test]
fn a_client_on_a_unix_socket_is_cut_the_same_way() {
    let client = |one_read: bool| {
        let mut command = Command::new(fixture("unix-http-client"));
        command.args(["--path", "{path}"]);
        if one_read {
            command.arg("--one-read");
        }
        StutterClient::command(command)
            .unix(true)
            .answers(fixtures_dir("client/answers"))
            .regressions(Regressions::Off)
    };
    let report = client(false)
        .cycles(30)
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("the careful client passes:\n{f}"));
    assert!(report.runs() >= 30, "{report}");
    assert!(report.fidelity() > 0.99, "each cut read alone: {report}");
    let failure = client(true)
        .try_run_for(Duration::from_secs(30))
        .expect_err("the client that takes one read as the answer is found");
    let text = failure.to_string();
    assert!(text.contains("c1:get-index.http:"), "{text}");
}

//! Correct real servers give no false alarm: Debian's redis-server and memcached, each on a
//! free loopback port with no persistence, fuzzed with realistic traffic and
//! `expect_same_response`. (`scripts/test` installs both; a missing one fails these tests,
//! saying so.)

use crate::common;

use std::process::Command;
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::{Chance, Disruptions};

use stutterfuzz::Stutter;

use common::fixtures_dir as fixtures;

fn redis() -> Command {
    common::redis_server("{port}")
}

fn memcached() -> Command {
    common::require("memcached", "memcached");
    let mut cmd = Command::new("memcached");
    cmd.args(["-l", "127.0.0.1", "-p", "{port}", "-U", "0"]);
    if nix::unistd::geteuid().is_root() {
        cmd.args(["-u", "root"]);
    }
    cmd
}

/// `VALUE key flags bytes cas` → `VALUE key flags bytes`: memcached's CAS token changes
/// with every store, legitimately.
fn without_cas(response: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(response);
    let lines: Vec<String> = text
        .split("\r\n")
        .map(|line| match line.strip_prefix("VALUE ") {
            Some(rest) => {
                let fields: Vec<&str> = rest.split(' ').take(3).collect();
                format!("VALUE {}", fields.join(" "))
            }
            None => line.to_owned(),
        })
        .collect();
    lines.join("\r\n").into_bytes()
}

#[test]
fn redis_has_no_false_alarm() {
    let report = Stutter::new("127.0.0.1:0")
        .server(redis())
        .blobs(fixtures("redis"))
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(40)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 7 * 40);
    assert!(
        report.stats().chunks > report.stats().deliveries,
        "{}",
        report.stats()
    );
}

#[test]
fn memcached_has_no_false_alarm() {
    let report = Stutter::new("127.0.0.1:0")
        .server(memcached())
        .blobs(fixtures("memcached"))
        .oracle(
            AnswerOracle::same()
                .normalize(without_cas)
                .within(Duration::from_secs(2)),
        )
        .cycles(40)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 7 * 40);
}

#[test]
fn without_normalize_memcached_cas_tokens_are_learnt_as_varying() {
    // `gets` answers a new CAS token each time: the blob's whole answers show it, so the
    // token is learnt as varying, not reported as a boundary bug.
    let report = Stutter::new("127.0.0.1:0")
        .regressions(Regressions::Off)
        .server(memcached())
        .blobs(fixtures("memcached"))
        .oracle(AnswerOracle::same())
        .cycles(10)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 7 * 10, "{}", report.stats());
}

#[test]
fn redis_told_to_daemonize_is_a_clear_setup_error_and_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("redis.pid");
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut server = redis();
    server
        .args(["--daemonize", "yes", "--pidfile"])
        .arg(&pid_file);
    server.current_dir(dir.path());
    let failure = Stutter::new(addr)
        .regressions(Regressions::Off)
        .server(server)
        .blobs(fixtures("redis"))
        .try_run_for(Duration::from_secs(30))
        .expect_err("a daemon cannot be watched");
    let text = failure.to_string();
    assert!(failure.setup_error().is_some(), "{text}");
    assert!(text.contains("went into the background"), "{text}");
    assert!(text.contains("--daemonize no"), "{text}");
    // The daemon's PID: from its pid file if it wrote it before it was stopped, and from
    // its process title (`redis-server 127.0.0.1:PORT`) otherwise.
    let port = addr.port().to_string();
    let ours = |pid: &str| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("redis-server") && cmdline.contains(&port)
        })
    };
    let written = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let left = loop {
        let mut left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()) && ours(name))
            .collect();
        let pid = written.trim();
        if !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
            left.push(pid.to_owned());
        }
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(left.is_empty(), "redis-server still runs: {left:?}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "{addr} still accepts connections"
    );
}

#[test]
fn redis_and_memcached_serve_others_through_pauses_mid_message() {
    for (server, blobs) in [(redis(), "redis"), (memcached(), "memcached")] {
        let report = common::stutter("127.0.0.1:0")
            .server(server)
            .blobs(fixtures(blobs))
            .disruptions(
                Disruptions::default()
                    .stall(Chance::one_in(2))
                    .stall_time(Duration::from_millis(300)),
            )
            .oracle(AnswerOracle::default().within(Duration::from_secs(2)))
            .cycles(4)
            .try_run_for(Duration::from_secs(60))
            .unwrap_or_else(|f| panic!("{blobs}: no false alarm:\n{f}"));
        assert!(
            report.stats().stalled > 0,
            "{blobs}: some paused:\n{report}"
        );
    }
}

#[test]
fn redis_and_memcached_answer_slow_readers_in_full() {
    // 2 MB: past what the servers' send buffers take at once for a slow reader (see
    // tests/slow_readers.rs); memcached is told to take items that large.
    let value = "v".repeat(2_000_000);
    let redis_blob = format!(
        "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n{value}\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n",
        value.len()
    );
    let memcached_blob = format!("set big 0 0 {}\r\n{value}\r\nget big\r\n", value.len());
    let mut big_memcached = memcached();
    big_memcached.args(["-I", "4m"]);
    for (server, name, blob) in [
        (redis(), "redis", redis_blob),
        (big_memcached, "memcached", memcached_blob),
    ] {
        let report = common::stutter("127.0.0.1:0")
            .server(server)
            .blob("big", blob)
            .connections(8)
            .disruptions(Disruptions::default().slow_read(Chance::ALWAYS))
            .oracle(AnswerOracle::same())
            .cycles(6)
            .try_run_for(Duration::from_secs(60))
            .unwrap_or_else(|f| panic!("{name}: no false alarm:\n{f}"));
        let stats = report.stats();
        assert_eq!(stats.slow_reads, stats.deliveries, "{name}:\n{report}");
        assert!(
            stats.backpressured > 0,
            "{name}: slow readers filled its send buffer:\n{report}"
        );
    }
}

//! Correct real servers give no false alarm: Debian's redis-server and memcached, each on a
//! free loopback port with no persistence, fuzzed with realistic traffic and
//! `expect_same_response`. (`.ci/run` installs both; a missing one fails this test.)

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use stutterfuzz::{FindingKind, Stutter};

fn fixtures(dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir)
}

fn redis() -> Command {
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        "{port}",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
    ]);
    cmd
}

fn memcached() -> Command {
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
        .expect_same_response()
        .response_timeout(Duration::from_secs(2))
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
        .expect_same_response()
        .normalize(without_cas)
        .response_timeout(Duration::from_secs(2))
        .cycles(40)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 7 * 40);
}

#[test]
fn without_normalize_memcached_cas_tokens_differ() {
    let failure = Stutter::new("127.0.0.1:0")
        .no_regression_file()
        .server(memcached())
        .blobs(fixtures("memcached"))
        .expect_same_response()
        .cycles(10)
        .try_run_for(Duration::from_secs(60))
        .expect_err("gets answers a new CAS token each time");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ResponseDiffers { .. }),
        "{finding}"
    );
    assert_eq!(finding.suspects()[0].case().blob(), "gets.txt", "{finding}");
}

//! No process the server starts outlives the run, however the run ends: a child in its
//! process group, a daemon that left the group (forked twice, `setsid`), or the whole
//! server gone into the background. Checked by PID and by the listening port.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Shrinking;

use common::{assert_all_gone, blob_dir, fixture, fixture_command, read_pids, wait_for_pids};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use stutterfuzz::{FindingKind, RunEnd, SetupErrorKind};

/// A loopback address that was free a moment ago.
fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// Asserts nothing accepts connections on `addr` (a moment allowed for the last close).
fn assert_closed(addr: &str) {
    common::wait_until(
        &format!("{addr} refusing connections"),
        Duration::from_secs(2),
        || std::net::TcpStream::connect(addr).is_err(),
    );
}

/// A fixture server with a daemon of its own, recording every PID in `pid_file`.
fn with_daemon(name: &str, pid_file: &Path) -> Command {
    let mut command = fixture_command(name, Some(pid_file));
    command.args(["--spawn-child", "--spawn-daemon"]);
    command
}

fn pids_with_daemon(pid_file: &Path) -> Vec<i32> {
    let pids = read_pids(pid_file);
    assert!(pids.len() >= 3, "server, child and daemon: {pids:?}");
    pids
}

#[test]
fn a_passing_run_leaves_no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let addr = free_addr();
    let report = common::stutter(&addr)
        .server(with_daemon("line-server", &pid_file))
        .blobs(blob_dir())
        .cycles(3)
        .run_for(Duration::from_secs(30));
    assert_eq!(report.end(), RunEnd::CyclesDone);
    assert_all_gone(&pids_with_daemon(&pid_file));
    assert_closed(&addr);
}

#[test]
fn a_finding_leaves_no_daemon_of_any_server_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let addr = free_addr();
    let failure = common::stutter(&addr)
        .server(with_daemon("line-server-buggy", &pid_file))
        .blobs(blob_dir())
        .shrinking(Shrinking::default().time(Duration::from_secs(3)))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the planted crash is found");
    // The panic's line, or the death that follows it.
    assert!(
        matches!(
            failure.finding().map(|f| f.kind()),
            Some(FindingKind::ServerDied { .. } | FindingKind::OutputMatched { .. })
        ),
        "{failure}"
    );
    // Narrowing restarted the server several times: every instance and its daemon is gone.
    let pids = read_pids(&pid_file);
    assert!(pids.len() >= 6, "several servers ran: {pids:?}");
    assert_all_gone(&pids);
    assert_closed(&addr);
}

#[test]
fn a_server_that_goes_into_the_background_is_a_setup_error_and_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let addr = free_addr();
    let mut server = fixture_command("line-server", Some(&pid_file));
    server.arg("--daemonize");
    let failure = common::stutter(&addr)
        .server(server)
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(30))
        .expect_err("a daemon cannot be watched");
    let error = failure.setup_error().expect("a setup error");
    assert_eq!(error.kind(), SetupErrorKind::ServerStartup);
    let text = error.to_string();
    assert!(text.contains("went into the background"), "{text}");
    assert!(text.contains("run it in the foreground"), "{text}");
    assert!(text.contains("--daemonize no"), "{text}");
    let pids = read_pids(&pid_file);
    assert_eq!(pids.len(), 1, "one daemon, never retried: {pids:?}");
    assert_all_gone(&pids);
    assert_closed(&addr);
}

#[test]
fn a_daemonizing_server_on_a_picked_port_is_not_started_again_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let mut server = fixture_command("line-server", Some(&pid_file));
    server.arg("--daemonize");
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(30))
        .expect_err("a daemon cannot be watched");
    assert!(
        failure.to_string().contains("went into the background"),
        "{failure}"
    );
    let pids = read_pids(&pid_file);
    assert_eq!(pids.len(), 1, "no second daemon on another port: {pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn a_panic_in_the_users_check_leaves_no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let addr = free_addr();
    let run = common::stutter(&addr)
        .server(with_daemon("line-server", &pid_file))
        .blobs(blob_dir())
        .cycles(3)
        .oracle(AnswerOracle::default().check(|_, _| panic!("a bug in the test's own check")));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run.try_run_for(Duration::from_secs(30))
    }));
    assert!(outcome.is_err(), "the user's panic reaches the test");
    assert_all_gone(&pids_with_daemon(&pid_file));
    assert_closed(&addr);
}

/// Starts the command-line tool on `addr` with a server that has a daemon.
fn command_line(dir: &Path, addr: &str) -> common::KillOnDrop {
    let (host, port) = addr.rsplit_once(':').unwrap();
    common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_stutterfuzz"))
            .args([
                &format!("--blob-dir={}", blob_dir().display()),
                &format!("--host={host}"),
                &format!("--port={port}"),
                &format!(
                    "--server={} --listen {{addr}} --spawn-child --spawn-daemon",
                    fixture("line-server").display()
                ),
            ])
            .current_dir(dir)
            .env("FIXTURE_PID_FILE", dir.join("pids"))
            .env("FIXTURE_ACCEPTS_FILE", dir.join("accepts"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn sigint_to_the_command_line_leaves_no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut harness = command_line(dir.path(), &addr);
    let pids = wait_for_pids(&dir.path().join("pids"), 3);
    // Interrupted mid-run, some way into fuzzing.
    common::wait_for_accepts(&dir.path().join("accepts"), 64);
    kill(Pid::from_raw(harness.0.id() as i32), Signal::SIGINT).unwrap();
    let status = harness.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_all_gone(&pids);
    assert_closed(&addr);
}

#[test]
fn a_killed_harness_leaves_no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut harness = command_line(dir.path(), &addr);
    let pids = wait_for_pids(&dir.path().join("pids"), 3);
    // Killed mid-run, some way into fuzzing.
    common::wait_for_accepts(&dir.path().join("accepts"), 64);
    // No chance to clean up: SIGKILL. The supervisor sees the harness's end of its control
    // pipe close, and ends every process the server started.
    harness.0.kill().unwrap();
    harness.0.wait().unwrap();
    assert_all_gone(&pids);
    assert_closed(&addr);
}

#[test]
fn a_server_that_goes_into_the_background_once_ready_is_a_setup_error_too() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let addr = free_addr();
    let mut server = fixture_command("line-server", Some(&pid_file));
    server.arg("--daemonize-late");
    let failure = common::stutter(&addr)
        .server(server)
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(30))
        .expect_err("a daemon cannot be watched");
    let text = failure.to_string();
    assert!(failure.setup_error().is_some(), "not a finding: {text}");
    assert!(text.contains("went into the background"), "{text}");
    assert_all_gone(&read_pids(&pid_file));
    assert_closed(&addr);
}

//! Faults during a run, and nothing left behind or lost whatever happens.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::{Shrinking, Timeouts};

use common::{
    accepted, assert_all_gone, blob_dir, fixture, fixture_command, read_pids, wait_for_accepts,
    wait_for_pids,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use stutterfuzz::FindingKind;

#[test]
fn a_server_killed_from_outside_is_a_finding_naming_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let accepts = dir.path().join("accepts");
    let mut server = fixture_command("line-server", Some(&pid_file));
    server.env("FIXTURE_ACCEPTS_FILE", &accepts);
    let killer_file = pid_file.clone();
    let killer = std::thread::spawn(move || {
        // Some way into fuzzing: deliveries in flight.
        wait_for_accepts(&accepts, 64);
        let pids = wait_for_pids(&killer_file, 1);
        kill(Pid::from_raw(pids[0]), Signal::SIGKILL).unwrap();
    });
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .shrinking(Shrinking::default().time(Duration::from_secs(3)))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the death is found");
    killer.join().unwrap();
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ServerDied { .. }),
        "{finding}"
    );
    assert!(
        finding.to_string().contains("was killed by SIGKILL"),
        "{finding}"
    );
    assert!(
        finding.culprit().is_none(),
        "no case kills the correct server alone:\n{finding}"
    );
    assert_all_gone(&read_pids(&pid_file));
}

#[test]
fn a_server_closing_connections_early_is_its_behaviour_not_a_finding() {
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", None))
        .blob(
            "quit-first",
            "QUIT\nPING\nSET k v\nGET k\nECHO never answered\n",
        )
        .cycles(40)
        .connections(10)
        .run_for(Duration::from_secs(30));
    assert_eq!(report.stats().deliveries, 40);
    assert!(report.stats().closed_by_server > 0, "{}", report.stats());
}

#[test]
fn the_harness_own_error_leaves_no_server_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    // Starts, never listens: the startup timeout is the harness's error.
    let mut server = Command::new("sh");
    server.args([
        "-c",
        &format!("echo $$ >> {} && exec sleep 30", pid_file.display()),
    ]);
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .timeouts(Timeouts::default().startup(Duration::from_millis(500)))
        .try_run_for(Duration::from_secs(10))
        .expect_err("never ready");
    assert!(failure.setup_error().is_some(), "{failure}");
    assert_all_gone(&read_pids(&pid_file));
}

#[test]
fn the_server_dies_with_a_killed_harness() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let mut harness = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_stutterfuzz"))
            .args([
                &format!("--blob-dir={}", blob_dir().display()),
                "--host=127.0.0.1",
                "--port=0",
                &format!(
                    "--server={} --listen {{addr}} --spawn-child",
                    fixture("line-server").display()
                ),
            ])
            .current_dir(dir.path())
            .env("FIXTURE_PID_FILE", &pid_file)
            .env("FIXTURE_ACCEPTS_FILE", dir.path().join("accepts"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pids = wait_for_pids(&pid_file, 2);
    assert_eq!(pids.len(), 2, "the server and the child it started");
    // Killed mid-run, some way into fuzzing.
    wait_for_accepts(&dir.path().join("accepts"), 64);
    // No chance to clean up: SIGKILL. The server gets the parent-death signal; the child it
    // started goes with the whole group, killed by the watchdog.
    harness.0.kill().unwrap();
    harness.0.wait().unwrap();
    assert_all_gone(&pids);
}

#[test]
fn a_finding_is_on_disk_before_the_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regressions.txt");
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        common::stutter("127.0.0.1:0")
            .server(fixture_command("line-server-buggy", None))
            .blobs(blob_dir())
            .regressions(Regressions::at(&file))
            .shrinking(Shrinking::default().time(Duration::from_secs(5)))
            .run_for(Duration::from_secs(30));
    }));
    assert!(panicked.is_err(), "the finding panics");
    let text = std::fs::read_to_string(&file).expect("written before the panic");
    assert!(
        text.lines().any(|l| l.starts_with("v1 kind=server-died ")),
        "{text}"
    );
}

#[test]
fn a_server_that_restarts_on_its_own_after_a_crash_is_still_a_finding() {
    // A supervisor loop (bounded) restarts the buggy server each time it dies: the process
    // the harness started lives on, the crash must still be reported.
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do {} --listen \"$STUTTERFUZZ_ADDR\"; done",
        fixture("line-server-buggy").display()
    );
    let mut server = Command::new("sh");
    server.args(["-c", &script]);
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .shrinking(Shrinking::default().time(Duration::ZERO))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the crash is found although the server came back");
    let finding = failure.finding().expect("a finding, not a setup error");
    let report = finding.to_string();
    assert!(
        matches!(
            finding.kind(),
            FindingKind::OutputMatched { .. } | FindingKind::ConnectRefused { .. }
        ),
        "{report}"
    );
    assert!(report.contains("a read ends at a line end"), "{report}");
}

#[test]
fn running_out_of_local_ports_slows_the_run_down_and_says_so() {
    // A network namespace of its own with 31 local ports: 60 connections in flight run
    // out of them at once, and connections in TIME_WAIT hold them.
    let script = format!(
        "ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range='40000 40030' && exec {} --blob-dir={} --host=127.0.0.1 --port=0 --server='{} --listen {{addr}}' --num-conns=60 --duration=3s",
        env!("CARGO_BIN_EXE_stutterfuzz"),
        blob_dir().display(),
        fixture("line-server").display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("unshare runs (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("local ports ran out"), "{stderr}");
    assert!(!stderr.contains("could not open a connection"), "{stderr}");
}

/// A line server that writes its PID to `dir/pids`, and a thread that stops it with SIGSTOP
/// once the run is under way (64 connections accepted): frozen, not dead, it lives, holds
/// its sockets, and reads nothing. The thread joins to the server's PIDs.
fn frozen_when_under_way(dir: &std::path::Path) -> (Command, std::thread::JoinHandle<Vec<i32>>) {
    let (pid_file, accepts) = (dir.join("pids"), dir.join("accepts"));
    let mut server = fixture_command("line-server", Some(&pid_file));
    server.env("FIXTURE_ACCEPTS_FILE", &accepts);
    let freezer = std::thread::spawn(move || {
        // Some way into fuzzing: deliveries in flight.
        wait_for_accepts(&accepts, 64);
        let pids = wait_for_pids(&pid_file, 1);
        kill(Pid::from_raw(pids[0]), Signal::SIGSTOP).unwrap();
        pids
    });
    (server, freezer)
}

#[test]
fn a_frozen_server_is_found_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, freezer) = frozen_when_under_way(dir.path());
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        // Reads are watched between chunks: with no answers awaited, most connections are
        // mid-delivery when the server freezes, and their bytes wait unread.
        .oracle(AnswerOracle::none())
        // No pause mid-message: a pause in flight as the server froze has its probe go
        // unserved first, and that finding, which no case replays alone, ends the run
        // unconfirmed (a clean-clone CI run showed it once in seven; said in the issue).
        .disruptions(stutterfuzz::Disruptions::default().stall(stutterfuzz::Chance::NEVER))
        .connections(20)
        .try_run_for(Duration::from_secs(30))
        .expect_err("the frozen server is found");
    let pids = freezer.join().unwrap();
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ServerStoppedReading { .. }),
        "{finding}"
    );
    assert!(
        finding
            .to_string()
            .contains("the server stopped reading (frozen or deadlocked)"),
        "{finding}"
    );
    // A stopped process ignores SIGTERM until continued: it is killed all the same.
    assert_all_gone(&pids);
}

/// Deliveries the server took before it froze wait out the response timeout (a hang);
/// those it had not taken, and the check alone after them, find bytes left unread (it
/// stopped reading): whichever shows first is the finding, both true of a frozen server.
#[test]
fn a_frozen_server_with_a_response_timeout_is_a_hang_or_stopped_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (server, freezer) = frozen_when_under_way(dir.path());
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .connections(20)
        // The response timeout alone: the comparison with whole answers is another test's.
        .oracle(AnswerOracle::none().within(Duration::from_millis(500)))
        .shrinking(Shrinking::default().time(Duration::ZERO))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the frozen server is found");
    let pids = freezer.join().unwrap();
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(
            finding.kind(),
            FindingKind::NoResponse { .. } | FindingKind::ServerStoppedReading { .. }
        ),
        "{finding}"
    );
    assert_all_gone(&pids);
}

#[test]
fn a_blob_removed_while_the_run_goes_on_is_still_delivered() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(blob_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let doomed = dir.path().join("ping.txt");
    let accepts = dir.path().join("accepts");
    let mut server = fixture_command("line-server", None);
    server.env("FIXTURE_ACCEPTS_FILE", &accepts);
    let remover = std::thread::spawn(move || {
        // Removed once the run is under way; how far it was then.
        wait_for_accepts(&accepts, 64);
        std::fs::remove_file(&doomed).unwrap();
        accepted(&accepts)
    });
    // Blobs are read once, at the start: the run delivers every one its cycles.
    let report = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(dir.path())
        .cycles(400)
        .connections(20)
        .run_for(Duration::from_secs(60));
    let accepted_at_removal = remover.join().unwrap();
    assert!(
        accepted_at_removal < report.stats().deliveries,
        "the blob was removed while the run went on (after {accepted_at_removal} connections): {}",
        report.stats()
    );
    assert!(!dir.path().join("ping.txt").exists());
    assert_eq!(report.stats().deliveries, 5 * 400);
}

/// The harness's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_server_printing_megabytes_a_second_leaves_the_harness_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_stutterfuzz"))
            .args([
                &format!("--blob-dir={}", blob_dir().display()),
                "--host=127.0.0.1",
                "--port=0",
                &format!(
                    "--server={} --listen {{addr}} --noisy",
                    fixture("line-server").display()
                ),
                "--num-conns=20",
                "--duration=4s",
                "--quiet",
            ])
            .current_dir(dir.path())
            .env("FIXTURE_ACCEPTS_FILE", dir.path().join("accepts"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = harness.0.id();
    // Memory sampled once the run is steady, then until it ends: the last sample is its
    // latest moment.
    wait_for_accepts(&dir.path().join("accepts"), 256);
    let early = rss_kib(pid);
    let mut late = early;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = harness.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the 4 s run ended");
        // 0 once the process is gone, before it is reaped.
        let now = rss_kib(pid);
        if now > 0 {
            late = now;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a chatty server is no bug");
    // Meanwhile the server printed 8 MiB; the harness keeps a bounded head and tail of it.
    assert!(early > 0 && late > 0, "sampled: {early} {late}");
    assert!(
        late < early + 4 * 1024,
        "the harness grew from {early} KiB to {late} KiB"
    );
}

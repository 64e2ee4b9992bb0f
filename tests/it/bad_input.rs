//! Bad input: each gets one clear setup error naming what is wrong, never a panic.

use crate::common;

use std::process::Command;
use std::time::Duration;
use stutterfuzz::Regressions;
use stutterfuzz::Timeouts;

use common::{blob_dir, fixture, fixture_command};
use stutterfuzz::{SetupErrorKind, Stutter};

fn setup_error(stutter: Stutter) -> (SetupErrorKind, String) {
    let failure = stutter
        .try_run_for(Duration::from_secs(20))
        .expect_err("the run cannot start");
    let error = failure.setup_error().expect("a setup error, not a finding");
    (error.kind(), failure.to_string())
}

fn correct() -> Stutter {
    common::stutter("127.0.0.1:0").server(fixture_command("line-server", None))
}

#[test]
fn unusable_blob_directories_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let make = |name: &str| {
        let dir = root.join(name);
        std::fs::create_dir(&dir).unwrap();
        dir
    };
    let empty = make("empty");
    let dots = make("dots");
    std::fs::write(dots.join(".hidden"), "x").unwrap();
    let nested = make("nested");
    std::fs::write(nested.join("ok.txt"), "PING\n").unwrap();
    std::fs::create_dir(nested.join("more")).unwrap();
    let looped = make("looped");
    std::os::unix::fs::symlink(looped.join("self"), looped.join("self")).unwrap();
    let unreadable = make("unreadable");
    std::os::unix::fs::symlink("/proc/self/mem", unreadable.join("mem")).unwrap();
    let file = root.join("file.txt");
    std::fs::write(&file, "PING\n").unwrap();

    for (dir, needle) in [
        (root.join("missing"), "does not exist"),
        (file.clone(), "is not a directory"),
        (empty, "holds no blobs"),
        (dots, "holds no blobs"),
        (nested.clone(), "holds a sub-directory"),
        (looped.clone(), "cannot use"),
        (unreadable.clone(), "cannot read blob"),
    ] {
        let (kind, text) = setup_error(correct().blobs(&dir));
        assert_eq!(kind, SetupErrorKind::Blobs, "{text}");
        assert!(text.contains(needle), "{}: {text}", dir.display());
        assert!(text.contains(&dir.display().to_string()), "{text}");
    }
}

#[test]
fn bad_addresses_are_named() {
    for (addr, needle) in [
        ("localhost", "is not an address"),
        ("127.0.0.1:http", "no valid port"),
        ("127.0.0.1:70000", "out of range"),
        ("no-such-host.invalid:80", "cannot resolve host"),
    ] {
        let (kind, text) = setup_error(common::stutter(addr).blobs(blob_dir()));
        assert_eq!(kind, SetupErrorKind::Address, "{text}");
        assert!(text.contains(needle), "{addr}: {text}");
    }
}

#[test]
fn zero_counts_and_budgets_are_refused() {
    for (stutter, needle) in [
        (correct().blobs(blob_dir()).connections(0), "connections(0)"),
        (correct().blobs(blob_dir()).cycles(0), "cycles(0)"),
    ] {
        let (kind, text) = setup_error(stutter);
        assert_eq!(kind, SetupErrorKind::Settings, "{text}");
        assert!(text.contains(needle), "{text}");
    }
    let failure = correct()
        .blobs(blob_dir())
        .try_run_for(Duration::ZERO)
        .expect_err("no time at all");
    assert!(
        failure.to_string().contains("time budget is zero"),
        "{failure}"
    );
}

#[test]
fn a_server_program_that_is_not_executable_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("server.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let (kind, text) = setup_error(
        common::stutter("127.0.0.1:0")
            .server(Command::new(&script))
            .blobs(blob_dir()),
    );
    assert_eq!(kind, SetupErrorKind::ServerSpawn, "{text}");
    assert!(text.contains("check that it is executable"), "{text}");
}

#[test]
fn a_server_listening_elsewhere_times_out_naming_the_address_waited_for() {
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = elsewhere.local_addr().unwrap();
    drop(elsewhere);
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let mut server = Command::new(fixture("line-server"));
    server
        .args(["--listen", &other.to_string()])
        .env("FIXTURE_PID_FILE", &pid_file);
    let stutter = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .timeouts(Timeouts::default().startup(Duration::from_millis(800)));
    let (kind, text) = setup_error(stutter);
    // The timeout means what it says: one wait, not one per port picked again.
    assert_eq!(
        common::read_pids(&pid_file).len(),
        1,
        "the server was started once: {text}"
    );
    assert_eq!(kind, SetupErrorKind::ServerStartup, "{text}");
    let waited_for = text
        .split("did not accept connections on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the address waited for");
    assert!(waited_for.starts_with("127.0.0.1:"), "{text}");
    assert_ne!(
        waited_for,
        other.to_string(),
        "it names the address it waited for: {text}"
    );
}

#[test]
fn a_port_taken_by_another_process_is_refused_before_the_server_starts() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = squatter.local_addr().unwrap();
    let (kind, text) = setup_error(
        common::stutter(addr)
            .server(fixture_command("line-server", None))
            .blobs(blob_dir()),
    );
    assert_eq!(kind, SetupErrorKind::ServerStartup, "{text}");
    assert!(text.contains("another process holds that port"), "{text}");
}

#[test]
fn a_bad_environment_variable_is_named_with_its_value() {
    // Through the command line, whose environment this test controls.
    let out = Command::new(env!("CARGO_BIN_EXE_stutterfuzz"))
        .args([
            &format!("--blob-dir={}", blob_dir().display()),
            "--host=127.0.0.1",
            "--port=1",
        ])
        .env("STUTTERFUZZ_SEED", "forty-two")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("STUTTERFUZZ_SEED=\"forty-two\" does not parse"),
        "{stderr}"
    );
}

#[test]
fn more_connections_than_the_file_limit_are_capped_and_said_so() {
    let script = format!(
        "ulimit -n 200 && exec {} --blob-dir={} --host=127.0.0.1 --port=0 --server='{} --listen {{addr}}' --num-conns=1000 --duration=1s",
        env!("CARGO_BIN_EXE_stutterfuzz"),
        blob_dir().display(),
        fixture("line-server").display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "1000 connections need more open files than the limit of 200 allows: using 136"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Too many open files"), "{stderr}");
}

#[test]
fn a_corrupt_regression_line_is_a_setup_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regressions.txt");
    std::fs::write(
        &file,
        "# found earlier\nv1 kind=server-died seed=1 chunks=2,4 blob=ping.txt\nv1 chunks=2,,4 blob=ping.txt\n",
    )
    .unwrap();
    let (kind, text) = setup_error(
        Stutter::new("127.0.0.1:0")
            .server(fixture_command("line-server", None))
            .blobs(blob_dir())
            .regressions(Regressions::at(&file)),
    );
    assert_eq!(kind, SetupErrorKind::Replay);
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("line 3: "), "{text}");
    assert!(text.contains("fix or delete it"), "{text}");
}

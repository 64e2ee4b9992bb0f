//! The `stutterfuzz` command, run as a user runs it.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_all_gone, blob_dir, fixture, read_pids};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn stutterfuzz() -> Command {
    common::stutterfuzz_cli()
}

fn server_arg(name: &str) -> String {
    format!("{} --listen {{addr}}", fixture(name).display())
}

fn blobs_arg() -> String {
    format!("--blob-dir={}", blob_dir().display())
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("stutterfuzz runs");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn help_names_every_original_option_with_its_default() {
    let out = run(stutterfuzz().arg("--help"));
    assert_eq!(out.code, Some(0));
    let help = out.stdout;
    for needle in [
        "--blob-dir <PATH>",
        "--host <HOST>",
        "--port <PORT>",
        "--cycle-ms <MS>",
        "whose default was 150",
        "--num-conns <N>",
        "[default: 100]",
        "--fastopen-chance <N>",
        "[default: 2]",
        "--close-chance <N>",
        "[default: 500]",
        "--server",
        "--duration",
        "--rounds",
        "--seed",
        "--replay",
        "--failures-dir <DIR>",
        "[default: stutterfuzz-failures]",
        "--quiet",
        "--verbose",
        "--version",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn usage_and_setup_errors_exit_2_with_one_clear_line() {
    let port = free_port();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--host=::1".into(), "--port=1".into()], "--blob-dir"),
        (
            vec![
                blobs_arg(),
                "--host=::1".into(),
                "--port=1".into(),
                "--bogus".into(),
            ],
            "--bogus",
        ),
        (
            vec![blobs_arg(), "--host=::1".into(), "--port=70000".into()],
            "70000",
        ),
        (
            vec![
                blobs_arg(),
                "--host=::1".into(),
                "--port=1".into(),
                "--duration=soon".into(),
            ],
            "soon",
        ),
        (
            vec![
                "--blob-dir=/nonexistent/blobs".into(),
                "--host=::1".into(),
                "--port=1".into(),
            ],
            "blob directory /nonexistent/blobs does not exist",
        ),
        (
            vec![
                blobs_arg(),
                "--host=no-such-host.invalid".into(),
                "--port=1".into(),
            ],
            "cannot resolve host",
        ),
        (
            vec![
                blobs_arg(),
                "--host=127.0.0.1".into(),
                format!("--port={port}"),
            ],
            "nothing accepts connections",
        ),
        (
            vec![
                blobs_arg(),
                "--host=127.0.0.1".into(),
                "--port=0".into(),
                "--server=/nonexistent/server --listen {addr}".into(),
            ],
            "cannot start server \"/nonexistent/server\"",
        ),
        (
            vec![
                blobs_arg(),
                "--host=127.0.0.1".into(),
                "--port=0".into(),
                format!("--server={} --bad-flag", fixture("line-server").display()),
            ],
            "exited with status 3",
        ),
        (
            vec![
                blobs_arg(),
                "--host=127.0.0.1".into(),
                "--port=1".into(),
                "--cycle-ms=0".into(),
            ],
            "--cycle-ms must be at least 1",
        ),
    ];
    for (args, needle) in cases {
        let out = run(stutterfuzz().args(&args));
        assert_eq!(out.code, Some(2), "{args:?}\n{}", out.stderr);
        assert!(
            out.stderr.contains(needle),
            "{args:?}: {needle:?} not in\n{}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn a_short_run_against_the_correct_server_exits_0_with_the_original_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(stutterfuzz().current_dir(dir.path()).args([
        &blobs_arg(),
        "--host=127.0.0.1",
        "--port=0",
        &format!("--server={}", server_arg("line-server")),
        "--duration=1s",
        "--original-stats",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Loaded 5 blobs. Bytes: 6 min, 227 mean, 929 max"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Stats: rounds="), "{}", out.stderr);
    assert!(
        out.stderr.contains("mean_cycles_to_connect="),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ready_to_send="), "{}", out.stderr);
    assert!(
        !dir.path().join("stutterfuzz-failures").exists(),
        "no finding, no file"
    );
}

#[test]
fn rounds_and_a_fixed_cycle_end_the_run_cleanly() {
    let out = run(stutterfuzz().args([
        &blobs_arg(),
        "-host=127.0.0.1",
        "-port=0",
        &format!("-server={}", server_arg("line-server")),
        "-cycle-ms=20",
        "--rounds=2",
        "--seed=5",
        "-original-stats",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("Stats: rounds=2,"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("every blob had all its cycles (seed 5)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_finding_exits_1_prints_the_report_saves_it_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let failures = dir.path().join("found");
    let base = [
        blobs_arg(),
        "--host=127.0.0.1".to_owned(),
        "--port=0".to_owned(),
        format!("--server={}", server_arg("line-server-buggy")),
        format!("--failures-dir={}", failures.display()),
    ];
    let out = run(stutterfuzz()
        .args(&base)
        .args(["--duration=20s", "--num-conns=4"]));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("stutterfuzz found a bug: the server was killed by SIGABRT"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--replay 'v1:"), "{}", out.stdout);
    let files: Vec<_> = std::fs::read_dir(&failures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one failure file");
    let saved = std::fs::read_to_string(&files[0]).unwrap();
    assert!(saved.contains("\ncase v1:"), "{saved}");
    assert!(saved.contains("stutterfuzz found a bug"), "{saved}");
    assert!(
        out.stderr.contains(&files[0].display().to_string()),
        "{}",
        out.stderr
    );

    // Replaying the file tries its cases until one fails again.
    let replayed = run(stutterfuzz()
        .args(&base)
        .arg(format!("--replay={}", files[0].display())));
    assert_eq!(replayed.code, Some(1), "{}", replayed.stderr);
    assert!(
        replayed.stderr.contains("still fails"),
        "{}",
        replayed.stderr
    );
    // The file is the finding's record already: no second one.
    assert!(
        replayed.stderr.contains("(not saved again)"),
        "{}",
        replayed.stderr
    );
    assert_eq!(std::fs::read_dir(&failures).unwrap().count(), 1);

    // A case that does not split a line passes: exit 0, saying so.
    let passed = run(stutterfuzz().args(&base).arg("--replay=v1:ping.txt:6"));
    assert_eq!(passed.code, Some(0), "{}", passed.stderr);
    assert!(
        passed.stderr.contains("no longer fails"),
        "{}",
        passed.stderr
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `child` to exit, killing it if it takes longer than `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stutterfuzz did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn sigint_stops_cleanly_with_a_final_stats_line_and_no_server_left() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let accepts = dir.path().join("accepts");
    let mut guard = common::KillOnDrop(
        stutterfuzz()
            .current_dir(dir.path())
            .env("FIXTURE_PID_FILE", &pid_file)
            .env("FIXTURE_ACCEPTS_FILE", &accepts)
            .args([
                &blobs_arg(),
                "--host=127.0.0.1",
                "--port=0",
                &format!("--server={} --spawn-child", server_arg("line-server")),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    // Interrupted mid-run, some way into fuzzing.
    common::wait_for_accepts(&accepts, 64);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let code = wait_bounded(child, Duration::from_secs(15));
    let stderr = stderr_of(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("Stats: deliveries="), "{stderr}");
    assert!(stderr.contains("stopped on request"), "{stderr}");
    assert_all_gone(&read_pids(&pid_file));
}

/// A script written for the original tool: `=` forms, `::1`, every original option, and a
/// server already running. It runs until interrupted, as the original does.
#[test]
fn a_script_for_the_original_tool_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let accepts = dir.path().join("accepts");
    let (_server, addr) = common::start_fixture_with("line-server", "[::1]:0", &accepts);
    let port = addr.rsplit_once(':').map(|(_, p)| p.to_owned()).unwrap();
    let script = format!(
        "exec stutterfuzz --blob-dir={} --host=::1 --port={port} --cycle-ms=150 --num-conns=100 --fastopen-chance=2 --close-chance=500",
        blob_dir().display()
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_stutterfuzz"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut guard = common::KillOnDrop(
        Command::new("sh")
            .args(["-c", &script])
            .current_dir(dir.path())
            .env("PATH", path)
            .env_remove("STUTTERFUZZ_DURATION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    // It runs until interrupted: interrupted some way into fuzzing.
    common::wait_for_accepts(&accepts, 64);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let code = wait_bounded(child, Duration::from_secs(15));
    let stderr = stderr_of(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.starts_with("Loaded 5 blobs. Bytes: 6 min, 227 mean, 929 max\n"),
        "{stderr}"
    );
    assert!(stderr.contains("Stats: deliveries="), "{stderr}");
}

#[test]
fn a_finding_that_cannot_be_saved_is_still_printed_whole_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be made under a regular file, even by root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let failures = blocker.join("found");
    let out = run(stutterfuzz().args([
        blobs_arg(),
        "--host=127.0.0.1".to_owned(),
        "--port=0".to_owned(),
        format!("--server={}", server_arg("line-server-buggy")),
        format!("--failures-dir={}", failures.display()),
        "--duration=20s".to_owned(),
        "--num-conns=4".to_owned(),
    ]));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout.contains("stutterfuzz found a bug"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--replay 'v1:"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Stats: deliveries="),
        "the whole report: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!(
            "could not save the finding in {}",
            failures.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn replaying_a_paused_case_recreates_the_pause_and_its_probe() {
    let paused = "--replay=v1:set-del.txt:3,59;stall=3@300ms";
    let replay = |server: &str| {
        run(stutterfuzz().args([
            blobs_arg(),
            "--host=127.0.0.1".to_owned(),
            "--port=0".to_owned(),
            format!("--server={}", server_arg(server)),
            "--failures-dir=/dev/null/none".to_owned(),
            paused.to_owned(),
        ]))
    };
    let failed = (0..5)
        .map(|_| replay("blocking-read-server"))
        .filter(|out| {
            out.code == Some(1)
                && out
                    .stdout
                    .contains("the server stopped serving other connections")
        })
        .count();
    assert!(
        failed >= 4,
        "the pause froze the probe in {failed} of 5 replays"
    );
    let correct = replay("line-server");
    assert_eq!(
        correct.code,
        Some(0),
        "{}{}",
        correct.stdout,
        correct.stderr
    );
}

#[test]
fn answers_that_change_when_split_are_found_by_default_and_the_first_lines_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        blobs_arg(),
        "--host=127.0.0.1".to_owned(),
        "--port=0".to_owned(),
        format!("--server={}", server_arg("line-server-splitwrong")),
        format!("--failures-dir={}", dir.path().display()),
        "--seed=3".to_owned(),
    ];
    let out = run(stutterfuzz().args(&base).args(["--duration=30s"]));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("differs from the response to the blob sent whole"),
        "{}",
        out.stdout
    );
    let second = out.stderr.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with("Checking the server's death")
            && second.ends_with("answers that change when split"),
        "{}",
        out.stderr
    );

    // The original tool's flag still parses, and asks for what is on anyway.
    let out = run(stutterfuzz()
        .args(&base)
        .args(["--duration=30s", "--expect-same-response"]));
    assert_eq!(out.code, Some(1), "{}", out.stderr);

    let out = run(stutterfuzz()
        .args(&base)
        .args(["--rounds=5", "--no-expect-same-response"]));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let second = out.stderr.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with("Checking") && !second.contains("answers"),
        "{}",
        out.stderr
    );
}

#[test]
fn stutterfuzz_duration_outlasts_the_round_count() {
    let out = run(stutterfuzz()
        .args([
            &blobs_arg(),
            "--host=127.0.0.1",
            "--port=0",
            &format!("--server={}", server_arg("line-server")),
            "--rounds=1",
            "--num-conns=4",
        ])
        .env("STUTTERFUZZ_DURATION", "2s"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("no finding; the time budget ran out"),
        "{}",
        out.stderr
    );
    // One round of 5 blobs is 5 deliveries: the duration made it go on.
    let deliveries: u64 = out
        .stderr
        .rsplit("Stats: deliveries=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a final stats line");
    assert!(deliveries > 5, "{}", out.stderr);
}

#[test]
fn long_help_explains_the_stats_words_the_exit_codes_and_conversations() {
    let out = run(stutterfuzz().arg("--help"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for word in [
        "record starts",
        "unconfirmed",
        "stalled",
        "slow reads",
        "Exit status",
        "#~ stutterfuzz conversation",
        "#~ wait pattern=TEXT",
        "#~ heard",
        "--no-expect-same-response",
        "keeps open",
    ] {
        assert!(
            out.stdout.contains(word),
            "--help lacks {word:?}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn a_finding_no_case_alone_shows_says_to_run_again_and_its_file_replays_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let failures = dir.path().join("found");
    let out = run(stutterfuzz().args([
        &blobs_arg(),
        "--host=127.0.0.1",
        "--port=0",
        &format!("--server={}", server_arg("stalling-server")),
        &format!("--failures-dir={}", failures.display()),
        "--num-conns=6",
        "--seed=9",
        "--duration=60s",
    ]));
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("no case alone shows it: reproduce it with the same run, "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--seed 9"), "{}", out.stderr);
    let file = std::fs::read_dir(&failures)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("# whole run: "), "{text}");

    let out = run(stutterfuzz().args([
        &blobs_arg(),
        "--host=127.0.0.1",
        "--port=0",
        &format!("--server={}", server_arg("line-server")),
        &format!("--replay={}", file.display()),
    ]));
    if !text.lines().any(|line| line.starts_with("case ")) {
        // No case was in flight when it showed (the run had drained to check the server
        // alone): nothing to replay, and the one line says what to do instead.
        assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("run the whole run again: ") && out.stderr.contains("--seed 9"),
            "{}",
            out.stderr
        );
        return;
    }
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("shows only under the whole run's load"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("as expected of a finding no case alone shows"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("no longer fails"), "{}", out.stderr);
}

#[test]
fn every_output_pattern_given_counts_together() {
    // A correct echo server that logs each connection, and once in a while a line marked
    // FATAL: only the flags given make it a finding, and they all count together.
    let script = "import socket, sys, threading\n\
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)\n\
        n = 0\n\
        def serve(c):\n    with c:\n        while True:\n            d = c.recv(4096)\n            if not d: return\n            c.sendall(d)\n\
        while True:\n    c, _ = s.accept(); n += 1\n    print('FATAL: connection %d' % n if n % 20 == 0 else 'connection %d' % n, flush=True)\n    threading.Thread(target=serve, args=(c,), daemon=True).start()\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.py");
    std::fs::write(&path, script).unwrap();
    let server = format!("--server=python3 {} {{host}} {{port}}", path.display());
    let base = [
        blobs_arg(),
        "--host=127.0.0.1".to_owned(),
        "--port=0".to_owned(),
        server,
        format!("--failures-dir={}", dir.path().join("fail").display()),
        "--no-expect-same-response".to_owned(),
        "--seed=5".to_owned(),
        "--duration=20s".to_owned(),
    ];
    // An ignore pattern given after a fail-on one keeps it (each used to replace the last).
    let stutterfuzz = || {
        let mut cmd = stutterfuzz();
        cmd.env("STUTTERFUZZ_SHRINK_TIME", "0s");
        cmd
    };
    let out = run(stutterfuzz()
        .args(&base)
        .args(["--fail-on-output=FATAL", "--ignore-output=never printed"]));
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("printed \"FATAL\""), "{}", out.stdout);
    // Two fail-on patterns: the first still counts.
    let out = run(stutterfuzz()
        .args(&base)
        .args(["--fail-on-output=FATAL", "--fail-on-output=never printed"]));
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
}

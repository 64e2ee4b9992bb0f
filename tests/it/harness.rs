//! The core harness, used as a server author would use it in their own tests.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::time::Duration;
use stutterfuzz::{Chance, Disruptions, Timeouts};

use common::{assert_all_gone, blob_dir, fixture, fixture_command, read_pids};
use stutterfuzz::{Failure, FindingKind, RunEnd, SetupErrorKind, Stutter};

fn buggy() -> Stutter {
    common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-buggy", None))
        .blobs(blob_dir())
        .connections(20)
}

fn correct() -> Stutter {
    common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", None))
        .blobs(blob_dir())
}

#[test]
fn the_buggy_server_is_found_and_its_case_replays() {
    let failure = buggy()
        .seed(11)
        .cycles(200)
        .try_run_for(Duration::from_secs(30))
        .expect_err("the planted split bug is found");
    let finding = failure.finding().expect("a finding, not a setup error");
    match finding.kind() {
        FindingKind::ServerDied { status } => {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc_sigabrt()), "{finding}");
        }
        other => panic!("expected the server to die, got {other:?}\n{finding}"),
    }
    assert_eq!(finding.seed().value(), 11);
    let report = finding.to_string();
    assert!(report.contains("was killed by SIGABRT"), "{report}");
    assert!(
        report.contains("a read ends at a line end"),
        "stderr tail: {report}"
    );
    assert!(
        report.contains("STUTTERFUZZ_REPLAY='v1:")
            && report
                .contains("cargo test harness::the_buggy_server_is_found_and_its_case_replays"),
        "{report}"
    );
    let suspects = finding.suspects();
    assert!(!suspects.is_empty(), "{report}");
    // What was delivered counts, the deliveries in flight at the crash too.
    let sent: usize = suspects.iter().map(|s| s.chunks_sent()).sum();
    assert!(finding.stats().chunks >= sent as u64, "{report}");
    assert!(finding.stats().deliveries > 0, "{report}");
    for suspect in suspects {
        let blob = blob_dir().join(suspect.case().blob());
        assert!(
            blob.is_file(),
            "the report names a real blob: {}",
            blob.display()
        );
    }
    if finding.culprit().is_some() && suspects.len() > 1 {
        // The culprit failed alone: the others are a count, and where to find them all.
        assert!(
            report.contains(&format!(
                "suspects  = {} cases in flight or just finished; the culprit below failed alone",
                suspects.len()
            )),
            "{report}"
        );
        assert!(!report.contains("  1. in flight"), "{report}");
    } else {
        // The report lists ten suspects at most, one short line each, with its case string
        // (cut short when long).
        for suspect in suspects.iter().take(10) {
            let case = suspect.case().to_string();
            let head = &case[..case.len().min(72)];
            assert!(report.contains(head), "{head} in\n{report}");
        }
        if suspects.len() > 10 {
            assert!(
                report.contains(&format!("and {} more suspects", suspects.len() - 10)),
                "{report}"
            );
        }
    }

    // At least one suspect crashes the server again when replayed alone.
    let reproduced = suspects
        .iter()
        .filter(|s| s.chunks_sent() > 0)
        .any(|suspect| {
            let case = suspect.case().to_string();
            match buggy().replay(&case).try_run_for(Duration::from_secs(20)) {
                Err(Failure::Finding(f)) => {
                    let text = f.to_string();
                    assert!(text.contains("this case alone reproduces it"), "{text}");
                    // The case replayed, on its bytes.
                    assert!(text.contains("(each | is a cut)"), "{text}");
                    true
                }
                Err(Failure::Setup(e)) => panic!("replay of {case} could not run: {e}"),
                Ok(_) => false,
                Err(other) => panic!("{other}"),
            }
        });
    assert!(reproduced, "no suspect reproduced alone:\n{report}");
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn the_correct_server_passes_a_full_run() {
    let report = correct()
        .connections(25)
        .cycles(20)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.end(), RunEnd::CyclesDone);
    let stats = report.stats();
    assert_eq!(stats.deliveries, 5 * 20);
    assert_eq!(stats.rounds, 20);
    assert!(stats.chunks > stats.deliveries, "blobs were split: {stats}");
    assert!(
        stats.record_coverage > 0.0 && stats.to_string().contains(", record starts="),
        "cuts a few bytes into records are counted: {stats}"
    );
    assert!(report.to_string().contains("no finding"), "{report}");
}

#[test]
fn shards_of_one_seed_deliver_disjoint_rounds_of_the_same_run() {
    let cases = |stutter: stutterfuzz::Stutter, rounds| {
        stutter.seed(7).cycles(rounds).preview(usize::MAX).unwrap()
    };
    let whole = cases(correct(), 18);
    let per_round = whole.len() / 18;
    for k in 1..=3 {
        let shard = cases(correct().shard(k, 3), 6);
        assert_eq!(shard.len(), 6 * per_round);
        // Round n of shard k is round 3n + k - 1 of the whole run.
        for (n, round) in shard.chunks(per_round).enumerate() {
            let r = 3 * n + k as usize - 1;
            assert_eq!(
                round,
                &whole[r * per_round..(r + 1) * per_round],
                "shard {k}/3, its round {n}"
            );
        }
    }
    let err = correct()
        .shard(4, 3)
        .try_run_for(Duration::from_secs(5))
        .expect_err("a shard outside its count");
    assert!(err.to_string().contains("shard 4/3"), "{err}");
}

#[test]
fn the_same_seed_sends_the_same_patterns() {
    let preview = |seed| correct().seed(seed).preview(40).unwrap();
    assert_eq!(preview(7), preview(7));
    assert_ne!(preview(7), preview(8));

    // And the engine sends exactly those: same seed, same chunk and byte counts.
    let run = |seed| {
        let report = correct()
            .seed(seed)
            .disruptions(Disruptions::default().close(Chance::NEVER))
            .cycles(8)
            .connections(10)
            .run_for(Duration::from_secs(60));
        (report.stats().chunks, report.stats().bytes)
    };
    let first = run(21);
    assert_eq!(first, run(21));
    let planned: usize = correct()
        .seed(21)
        .disruptions(Disruptions::default().close(Chance::NEVER))
        .cycles(8)
        .preview(usize::MAX)
        .unwrap()
        .iter()
        .map(|c| c.splits().len())
        .sum();
    assert_eq!(first.0, planned as u64);
}

#[test]
fn an_empty_blob_is_delivered_without_stalling() {
    let report = correct()
        .blob("empty", "")
        .cycles(3)
        .connections(4)
        .run_for(Duration::from_secs(30));
    assert_eq!(report.end(), RunEnd::CyclesDone);
    assert_eq!(report.stats().deliveries, 6 * 3);
}

#[test]
fn a_server_that_exits_at_once_is_a_setup_error_with_its_status_and_stderr() {
    let mut server = Command::new(fixture("line-server"));
    server.arg("--no-such-flag");
    let err = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(10))
        .expect_err("the server cannot start");
    let setup = err.setup_error().expect("a setup error, not a finding");
    assert_eq!(setup.kind(), SetupErrorKind::ServerStartup);
    let text = err.to_string();
    assert!(text.contains("exited with status 3"), "{text}");
    assert!(
        text.contains("unknown argument \"--no-such-flag\""),
        "{text}"
    );
}

#[test]
fn a_server_that_exits_on_its_own_after_the_readiness_check_is_a_setup_error() {
    // Accepts the readiness check, closes it, and exits 0 a moment later without serving:
    // what the harness sent meanwhile sat in its listen queue.
    let script = "import socket, sys, time\n\
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)\n\
        c, _ = s.accept(); c.close(); time.sleep(0.3)\n";
    let mut server = Command::new("python3");
    server.args(["-c", script, "{host}", "{port}"]);
    let err = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(20))
        .expect_err("the server serves nobody");
    let setup = err
        .setup_error()
        .unwrap_or_else(|| panic!("a setup error, not a finding:\n{err}"));
    assert_eq!(setup.kind(), SetupErrorKind::ServerStartup);
    let text = err.to_string();
    assert!(
        text.contains("exited with status 0 before the first delivery"),
        "{text}"
    );
}

#[test]
fn a_missing_server_program_is_a_setup_error() {
    let err = common::stutter("127.0.0.1:0")
        .server(Command::new("/nonexistent/server"))
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(10))
        .expect_err("nothing to spawn");
    assert_eq!(
        err.setup_error().map(|e| e.kind()),
        Some(SetupErrorKind::ServerSpawn)
    );
    assert!(err.to_string().contains("/nonexistent/server"), "{err}");
}

#[test]
fn a_server_that_never_listens_times_out_naming_the_address() {
    // `sleep` starts fine but never listens.
    let mut server = Command::new("sleep");
    server.arg("30");
    let err = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .timeouts(Timeouts::default().startup(Duration::from_millis(500)))
        .try_run_for(Duration::from_secs(10))
        .expect_err("never ready");
    assert_eq!(
        err.setup_error().map(|e| e.kind()),
        Some(SetupErrorKind::ServerStartup)
    );
    assert!(
        err.to_string()
            .contains("did not accept connections on 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn without_a_server_something_must_listen() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = common::stutter(format!("127.0.0.1:{port}"))
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(5))
        .expect_err("nothing listens");
    assert_eq!(
        err.setup_error().map(|e| e.kind()),
        Some(SetupErrorKind::NotListening)
    );
    assert!(err.to_string().contains("start the server first"), "{err}");
}

#[test]
fn an_already_running_server_is_fuzzed_in_place() {
    let (_server, addr) = common::start_fixture("line-server", "127.0.0.1:0");
    let outcome = common::stutter(&addr)
        .blobs(blob_dir())
        .cycles(5)
        .try_run_for(Duration::from_secs(30));
    let report = outcome.expect("the correct server passes");
    assert_eq!(report.stats().deliveries, 25);
    assert_eq!(report.server_pid(), None);
}

#[test]
fn no_server_process_outlives_a_passing_a_failing_or_a_panicking_run() {
    let dir = tempfile::tempdir().unwrap();
    let with_child = |name: &str, file: &str| {
        let pid_file = dir.path().join(file);
        let mut command = fixture_command(name, Some(&pid_file));
        command.arg("--spawn-child");
        (command, pid_file)
    };

    let (server, pids) = with_child("line-server", "pass");
    common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .cycles(2)
        .run_for(Duration::from_secs(30));
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 2, "server and its child");
    assert_all_gone(&pids);

    let (server, pids) = with_child("line-server-buggy", "fail");
    let outcome = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .cycles(200)
        .try_run_for(Duration::from_secs(30));
    assert!(outcome.is_err());
    assert_all_gone(&read_pids(&pids));

    let (server, pids) = with_child("line-server-buggy", "panic");
    let panic = catch_unwind(AssertUnwindSafe(|| {
        common::stutter("127.0.0.1:0")
            .server(server)
            .blobs(blob_dir())
            .cycles(200)
            .run_for(Duration::from_secs(30));
    }))
    .expect_err("run_for panics on a finding");
    let message = panic
        .downcast_ref::<String>()
        .expect("the panic carries the report");
    assert!(message.starts_with("stutterfuzz found a bug"), "{message}");
    assert_all_gone(&read_pids(&pids));
}

#[test]
fn a_replayed_case_needs_its_blob() {
    let err = correct()
        .replay("v1:no-such-blob.txt:1,2")
        .try_run_for(Duration::from_secs(10))
        .expect_err("unknown blob");
    assert_eq!(
        err.setup_error().map(|e| e.kind()),
        Some(SetupErrorKind::Replay)
    );
    assert!(
        err.to_string()
            .contains("no blob is named \"no-such-blob.txt\""),
        "{err}"
    );
}

#[test]
fn a_missing_blob_directory_is_a_setup_error_naming_it() {
    let err = correct()
        .blobs("/nonexistent/blobs")
        .try_run_for(Duration::from_secs(10))
        .expect_err("no blobs");
    assert_eq!(
        err.setup_error().map(|e| e.kind()),
        Some(SetupErrorKind::Blobs)
    );
    assert!(err.to_string().contains("/nonexistent/blobs"), "{err}");
}

#[tokio::test]
async fn runs_inside_a_tokio_test() {
    let report = correct()
        .cycles(3)
        .run_for_async(Duration::from_secs(30))
        .await;
    assert_eq!(report.stats().deliveries, 15);
}

#[tokio::test]
async fn the_blocking_entry_point_refuses_a_single_threaded_runtime_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let err = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", Some(&pid_file)))
        .blobs(blob_dir())
        .cycles(3)
        .try_run_for(Duration::from_secs(30))
        .expect_err("it would block the runtime's only thread");
    assert_eq!(
        err.setup_error().map(|e| e.kind()),
        Some(SetupErrorKind::Harness)
    );
    assert!(err.to_string().contains("run_for_async"), "{err}");
    assert!(!pid_file.exists(), "refused before starting anything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_inside_a_multi_threaded_runtime() {
    let report = correct().cycles(2).run_for(Duration::from_secs(30));
    assert_eq!(report.end(), RunEnd::CyclesDone);
}

/// The README's quick start, as written there, against a server that answers a command split
/// across reads wrong, with no crash and no hang: the default oracles find it.
#[test]
fn the_quick_start_finds_a_server_that_answers_a_split_command_wrong() {
    let mut server = Command::new(fixture("line-server-splitwrong"));
    server.args(["--listen", "{addr}"]);
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .cycles(500)
        .try_run_for(Duration::from_secs(10))
        .expect_err("the wrong answer is found");
    let finding = failure.finding().expect("a finding, not a setup error");
    assert!(
        matches!(finding.kind(), FindingKind::ResponseDiffers { .. }),
        "{finding}"
    );
    let text = finding.to_string();
    assert!(text.contains("differs from the response"), "{text}");
    // The minimal case is shown on its bytes, one `|` (not `\|`) for each cut.
    let minimal = finding.minimal().expect("narrowed to a minimal case");
    let cut = text
        .lines()
        .skip_while(|line| !line.starts_with("  minimal   = "))
        .nth(1)
        .and_then(|line| line.strip_suffix("   (each | is a cut)"))
        .unwrap_or_else(|| panic!("no cut under the minimal case:\n{text}"));
    let bars = cut.matches('|').count() - cut.matches("\\|").count();
    assert_eq!(bars, minimal.splits().len() - 1, "{text}");
}

#[test]
fn a_clean_run_says_what_it_checked_and_which_limit_ended_it() {
    let report = correct().cycles(2).run_for(Duration::from_secs(30));
    let text = report.to_string();
    assert!(
        text.contains("checked: the server's death, refused or unaccepted connects, hangs, HTTP/2 and WebSocket protocol failures, alarms in its output (panics, sanitizers), answers that change when split"),
        "{text}"
    );
    assert!(
        text.contains("the cycle count ended the run; STUTTERFUZZ_DURATION"),
        "{text}"
    );
}

//! A run that keeps going after each finding finds every distinct bug of a server: here a
//! crash and a wrong answer, each reported once with how often it was met, the server
//! started anew after each finding and none left behind.

use crate::common;

use std::time::Duration;

use common::{assert_all_gone, blob_dir, fixture, fixture_command, read_pids};
use stutterfuzz::Shrinking;

#[test]
fn a_run_that_keeps_going_reports_a_crash_and_a_wrong_answer_as_two_findings() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("two-bugs-server", Some(&pid_file)))
        .blobs(blob_dir())
        .keep_going(true)
        .shrinking(Shrinking::default().time(Duration::from_secs(3)))
        .try_run_for(Duration::from_secs(20))
        .expect_err("two bugs are found");
    let all = failure
        .findings()
        .unwrap_or_else(|| panic!("the run kept going:\n{failure}"));
    let signatures: Vec<&str> = all
        .distinct()
        .iter()
        .map(|d| d.finding().signature())
        .collect();
    assert_eq!(signatures.len(), 2, "{signatures:?}\n{failure}");
    assert!(
        signatures
            .iter()
            .any(|s| s.starts_with("was killed by SIGABRT")),
        "{signatures:?}"
    );
    assert!(
        signatures.contains(&"answer differs in ECHO <s> <s>"),
        "{signatures:?}"
    );
    // Met again and again, each is one finding, counted.
    let seen: u64 = all.distinct().iter().map(|d| d.seen()).sum();
    assert!(seen >= 2, "{seen}");
    // A fresh server after each finding (and after each part a finding narrowing disowned).
    let stats = all.report().stats();
    assert!(stats.restarts >= seen - 1, "{stats}");
    let text = failure.to_string();
    assert!(text.contains("stutterfuzz found 2 distinct bugs"), "{text}");
    assert!(text.contains("restarts="), "{text}");
    assert_all_gone(&read_pids(&pid_file));
}

#[test]
fn on_the_command_line_each_distinct_finding_gets_a_failure_file_and_the_exit_is_1() {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = tempfile::tempdir().unwrap();
    let failures = dir.path().join("failures");
    let server = format!("{} --listen {{addr}}", fixture("two-bugs-server").display());
    let run = std::process::Command::cargo_bin("stutterfuzz")
        .unwrap()
        .args(["--host", "127.0.0.1", "--port", "0", "--duration", "15s"])
        .args(["--keep-going", "--server", &server])
        .arg("--blob-dir")
        .arg(blob_dir())
        .arg("--failures-dir")
        .arg(&failures)
        .env_remove("STUTTERFUZZ_SEED")
        .env_remove("STUTTERFUZZ_DURATION")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.contains("stutterfuzz found 2 distinct bugs"), "{out}");
    let files = std::fs::read_dir(&failures).unwrap().count();
    assert_eq!(files, 2, "one failure file per distinct finding:\n{out}");
}

#[test]
fn a_known_finding_is_counted_not_reported_and_the_run_stops_at_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known.txt");
    // As a failure file's header line shows it.
    std::fs::write(&known, "# signature: was killed by SIGABRT\n").unwrap();
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("two-bugs-server", None))
        .blobs(blob_dir())
        .known(&known)
        .shrinking(Shrinking::default().time(Duration::from_secs(3)))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the other bug is found");
    assert!(failure.findings().is_none(), "one finding: {failure}");
    let finding = failure.finding().expect("a finding");
    assert_eq!(
        finding.signature(),
        "answer differs in ECHO <s> <s>",
        "{finding}"
    );
}

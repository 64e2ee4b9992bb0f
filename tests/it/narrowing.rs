//! From a crash with many cases in flight to the one case that fails alone, shrunk; findings
//! recorded and replayed first; the proptest target.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::Shrinking;

use common::{blob_dir, fixture_command};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use stutterfuzz::{Failure, FindingKind, RunningServer, Splits, Stutter};

fn culprit_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/culprit")
}

#[test]
fn with_100_connections_in_flight_the_report_names_exactly_the_culprit() {
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-buggy", None))
        .blobs(culprit_dir())
        // No answers awaited: every connection is mid-delivery when the server dies.
        .oracle(AnswerOracle::none())
        .connections(100)
        .seed(5)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the split bug is found");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ServerDied { .. }),
        "{finding}"
    );
    assert!(
        finding.suspects().len() > 20,
        "many cases were in flight:\n{finding}"
    );
    let culprit = finding.culprit().expect("a culprit");
    assert_eq!(culprit.blob(), "culprit.txt", "{finding}");
    let minimal = finding.minimal().expect("a minimal case");
    assert!(
        minimal.splits().len() <= culprit.splits().len(),
        "{finding}"
    );
    assert_eq!(minimal.splits().total(), culprit.splits().total());
    let (failed, tried) = finding.reproduced().expect("a reproduction count");
    assert!(failed >= 1 && tried == 3, "{finding}");
    let report = finding.to_string();
    assert!(
        report.contains(&format!("culprit   = {culprit} fails alone")),
        "{report}"
    );
    assert!(
        report.contains(&format!("minimal   = {}", minimal.splits())),
        "{report}"
    );

    // The shrunk pattern still fails when replayed.
    let replayed = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-buggy", None))
        .blobs(culprit_dir())
        .replay(minimal.to_string())
        .try_run_for(Duration::from_secs(30));
    assert!(
        matches!(replayed, Err(Failure::Finding(_))),
        "{minimal} does not fail on replay"
    );
}

#[test]
fn a_finding_is_recorded_and_replayed_first_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stutterfuzz-regressions/split.txt");
    let run = || {
        Stutter::new("127.0.0.1:0")
            .server(fixture_command("line-server-buggy", None))
            .blobs(blob_dir())
            .regressions(Regressions::at(&file))
            .connections(8)
            .try_run_for(Duration::from_secs(60))
            .expect_err("the split bug is found")
    };
    let first = run();
    let first = first.finding().expect("a finding");
    let text = std::fs::read_to_string(&file).expect("the regression file is written");
    assert!(text.starts_with("# "), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("v1 "))
        .expect("a case line");
    assert!(line.starts_with("v1 kind=server-died seed="), "{line}");
    let minimal = first.minimal().expect("narrowed to a culprit");
    assert!(
        line.ends_with(&format!(
            "chunks={} blob={}",
            minimal
                .splits()
                .to_string()
                .trim_matches(['[', ']'])
                .replace(' ', ""),
            minimal.blob()
        )),
        "{line}"
    );
    assert!(
        first.to_string().contains(&file.display().to_string()),
        "{first}"
    );

    // The next run replays the recorded case before fuzzing, and it fails again.
    let second = run();
    let second = second.finding().expect("a finding");
    assert!(second.to_string().contains("fails again"), "{second}");
    assert_eq!(second.suspects()[0].case(), minimal);

    // STUTTERFUZZ_REPLAY (or .replay) takes such a line as it is.
    let replayed = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-buggy", None))
        .blobs(blob_dir())
        .replay(line)
        .try_run_for(Duration::from_secs(30));
    assert!(matches!(replayed, Err(Failure::Finding(_))));
}

#[test]
fn the_default_mix_sends_one_byte_first_chunks() {
    let cases = common::stutter("127.0.0.1:1")
        .blobs(blob_dir())
        .seed(1)
        .preview(200)
        .unwrap();
    let one_byte_first = cases
        .iter()
        .filter(|c| c.splits().chunks().first() == Some(&1))
        .count();
    assert!(one_byte_first >= 10, "{one_byte_first} of 200");
}

const REQUEST: &[u8] = b"SET session:42 alice\nGET session:42\n";

fn buggy_target() -> RunningServer {
    common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-buggy", None))
        .start()
        .expect("the buggy server starts")
}

#[test]
fn a_property_test_finds_the_split_bug_and_shrinks_it_to_three_chunks_at_most() {
    let target = buggy_target();
    // Sent whole, the request passes.
    let whole = target
        .deliver(REQUEST, &Splits::whole(REQUEST.len()))
        .expect("whole is fine");
    assert_eq!(whole.response().bytes(), b"+OK\n+alice\n");
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&stutterfuzz::split_patterns(REQUEST.len()), |splits| {
        target
            .deliver(REQUEST, &splits)
            .map(|_| ())
            .map_err(|f| TestCaseError::fail(f.to_string()))
    });
    match result {
        Err(TestError::Fail(why, minimal)) => {
            assert!(minimal.len() <= 3, "shrunk to {minimal}");
            assert!(why.message().contains("SIGABRT"), "{why}");
            // No run knows these bytes by name: the report says to deliver them again, not
            // to replay a case string, and it counts the delivery it made.
            assert!(
                why.message()
                    .contains("deliver the same bytes with these splits again")
                    && !why.message().contains("STUTTERFUZZ_REPLAY"),
                "{why}"
            );
            assert!(why.message().contains("Stats: deliveries=1 "), "{why}");
            // The server was restarted after each crash: the target still works.
            target
                .deliver(REQUEST, &Splits::whole(REQUEST.len()))
                .expect("restarted");
        }
        other => panic!("the bug was not found: {other:?}"),
    }
}

fn shared_target() -> &'static RunningServer {
    static TARGET: std::sync::OnceLock<RunningServer> = std::sync::OnceLock::new();
    TARGET.get_or_init(buggy_target)
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]
    /// Written as a user writes it; called below, where its failure is the expected outcome.
    fn every_split_is_answered(splits in stutterfuzz::split_patterns(REQUEST.len())) {
        let delivered = shared_target().deliver(REQUEST, &splits);
        prop_assert!(delivered.is_ok(), "{}", delivered.unwrap_err());
    }
}

#[test]
fn the_proptest_macro_reports_a_minimal_split_of_three_chunks_at_most() {
    let panic =
        catch_unwind(AssertUnwindSafe(every_split_is_answered)).expect_err("the bug is found");
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .expect("a message");
    let minimal = message
        .split("minimal failing input: splits = Splits(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("proptest names the minimal input");
    let chunks = minimal
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .count();
    assert!(chunks <= 3, "{minimal}");
}

#[test]
fn a_target_compares_each_delivery_with_the_blob_sent_whole() {
    let target = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-splitwrong", None))
        .oracle(AnswerOracle::same())
        .start()
        .expect("the server starts");
    let whole = Splits::whole(REQUEST.len());
    target
        .deliver(REQUEST, &whole)
        .expect("sent whole, it answers as it did");
    let split: Splits = "3,33".parse().unwrap();
    let failure = target
        .deliver(REQUEST, &split)
        .expect_err("split, it answers wrongly");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ResponseDiffers { .. }),
        "{finding}"
    );
}

#[test]
fn a_crash_a_few_bytes_into_a_later_record_is_found_by_cutting_into_records() {
    crash_in_a_later_record_is_narrowed("record-crash-server");
}

/// The connection that crashes the server is closed, and judged, before the exit shows: it is
/// a suspect all the same, and the culprit.
#[test]
fn a_crash_seen_first_as_a_closed_connection_is_narrowed_to_that_case() {
    crash_in_a_later_record_is_narrowed("record-crash-closing-server");
}

fn crash_in_a_later_record_is_narrowed(server: &str) {
    let blob = "SET session:1 alice\nGET session:1\nDEL session:1\nGET session:1\nPING\n";
    let run = || {
        common::stutter("127.0.0.1:0")
            .server(fixture_command(server, None))
            .blob("session", blob)
    };
    let failure = run()
        .split_mode(stutterfuzz::SplitMode::RecordStarts)
        .cycles(300)
        .shrinking(Shrinking::default().time(Duration::from_secs(10)))
        .try_run_for(Duration::from_secs(60))
        .expect_err("a cut 3 bytes into the third record is drawn");
    let finding = failure.finding().expect("a finding");
    assert!(
        finding.to_string().contains("was killed by SIGABRT"),
        "{finding}"
    );
    let minimal = finding
        .minimal()
        .unwrap_or_else(|| panic!("a minimal case:\n{finding}"));
    assert_eq!(minimal.blob(), "session");
    // The report says what fuzzing and narrowing each took, against narrowing's budget.
    let text = finding.to_string();
    assert!(
        text.contains("  time      = fuzzing ") && text.contains(" s (of 10s allowed)"),
        "{text}"
    );
    let replayed = run()
        .replay(minimal.to_string())
        .try_run_for(Duration::from_secs(20))
        .expect_err("the minimal case replays");
    assert!(
        replayed
            .to_string()
            .contains("this case alone reproduces it"),
        "{replayed}"
    );
}

#[test]
fn a_server_that_dies_after_n_connections_is_no_boundary_bug() {
    let mut server = fixture_command("die-after-server", None);
    server.env("FIXTURE_DIE_AFTER", "25");
    let failure = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        // Counted connections: no whole answers are recorded first.
        .oracle(AnswerOracle::none())
        .connections(60)
        .shrinking(Shrinking::default().time(Duration::from_secs(30)))
        .try_run_for(Duration::from_secs(60))
        .expect_err("the 25th connection kills it");
    let finding = failure.finding().expect("a finding");
    let text = finding.to_string();
    assert!(finding.culprit().is_none(), "{text}");
    let about = text
        .split("the server dies after about ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no connection count:\n{text}"));
    // Each fresh server also takes the harness's readiness connection.
    assert!((20..=25).contains(&about), "about {about}:\n{text}");
}

#[test]
fn among_200_suspects_the_one_case_that_crashes_alone_is_named() {
    let blob = "SET session:1 alice\nGET session:1\nDEL session:1\nGET session:1\nPING\n";
    let run = || {
        common::stutter("127.0.0.1:0")
            .server(fixture_command("record-crash-server", None))
            .blob("session", blob)
    };
    let failure = run()
        .split_mode(stutterfuzz::SplitMode::RecordStarts)
        // No answers awaited: every connection is mid-delivery when the server dies.
        .oracle(AnswerOracle::none())
        .connections(200)
        .cycles(2000)
        .try_run_for(Duration::from_secs(60))
        .expect_err("a cut 3 bytes into the third record is drawn");
    let finding = failure.finding().expect("a finding");
    assert!(
        finding.suspects().len() > 100,
        "many cases were in flight:\n{finding}"
    );
    let culprit = finding
        .culprit()
        .unwrap_or_else(|| panic!("the culprit is named within the default budget:\n{finding}"));
    let replayed = run()
        .replay(culprit.to_string())
        .try_run_for(Duration::from_secs(20));
    assert!(
        matches!(replayed, Err(Failure::Finding(_))),
        "{culprit} does not fail on replay"
    );
}

#[test]
fn a_crash_that_needs_two_split_cases_at_once_is_reported_with_the_pair() {
    const ONE: &str = "SET a 1\nGET a\n";
    const TWO: &str = "PING\nECHO hi\n";
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("shared-partial-server", None))
        .blob("one", ONE)
        .blob("two", TWO)
        .connections(20)
        .try_run_for(Duration::from_secs(60))
        .expect_err("two partial lines at once crash it");
    let finding = failure.finding().expect("a finding");
    assert!(
        finding.culprit().is_none(),
        "no case fails alone:\n{finding}"
    );
    let pair = finding
        .together()
        .unwrap_or_else(|| panic!("the smallest set that fails together:\n{finding}"));
    assert_eq!(pair.len(), 2, "{finding}");
    for case in pair {
        // A cut inside a line, or the connection closed early mid-line.
        let blob = if case.blob() == "one" { ONE } else { TWO };
        let mut ends = case.splits().boundaries().collect::<Vec<_>>();
        ends.push(case.splits().total());
        assert!(
            ends.iter().any(|&end| blob.as_bytes()[end - 1] != b'\n'),
            "each leaves a line partial: {case}"
        );
    }
    assert!(
        finding
            .to_string()
            .contains("none alone: these 2 cases fail together, and no smaller set of them does"),
        "{finding}"
    );
}

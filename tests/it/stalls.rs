//! Pauses mid-message: a connection holds back the rest of a record while a probe
//! connection checks that the server still serves the others. A server that finishes a
//! partial line with blocking reads is invisible to paced delivery and found this way.

use crate::common;

use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::{Chance, Disruptions};

use common::{blob_dir, fixture_command};
use stutterfuzz::{Case, FindingKind};

fn blocking_run(pause: Chance) -> stutterfuzz::Stutter {
    common::stutter("127.0.0.1:0")
        .server(fixture_command("blocking-read-server", None))
        .blobs(blob_dir())
        .connections(20)
        .disruptions(
            Disruptions::default()
                .stall(pause)
                .stall_time(Duration::from_millis(400)),
        )
}

#[test]
fn a_server_that_blocks_on_a_partial_line_is_found_by_a_pause_and_replays() {
    let failure = blocking_run(Chance::one_in(20))
        .try_run_for(Duration::from_secs(60))
        .expect_err("a pause mid-line freezes the other clients");
    let finding = failure.finding().expect("a finding");
    let text = finding.to_string();
    assert!(
        matches!(finding.kind(), FindingKind::StoppedServingOthers { .. }),
        "{text}"
    );
    assert!(
        text.contains(
            "the server stopped serving other connections while one connection paused mid-message"
        ),
        "{text}"
    );
    let culprit = finding
        .culprit()
        .unwrap_or_else(|| panic!("a culprit:\n{text}"));
    assert!(
        culprit.stall().is_some(),
        "the culprit is the paused case:\n{text}"
    );
    // Its victims are counted (all of them in `Finding::suspects`), not listed: the culprit
    // failed alone.
    assert!(
        text.contains(&format!(
            "it paused mid-message; the {} others in flight then are its victims",
            finding.suspects().len() - 1
        )),
        "{text}"
    );
    assert!(!text.contains("in flight during the pause"), "{text}");
    let minimal = finding.minimal().expect("a minimal case").clone();
    let stall = minimal.stall().expect("the minimal case keeps its pause");
    assert!(
        minimal.splits().boundaries().any(|b| b == stall.at()),
        "{minimal}"
    );
    // Replay re-creates the pause and its probe.
    let failed = (0..5)
        .filter(|_| {
            blocking_run(Chance::NEVER)
                .replay(minimal.to_string())
                .try_run_for(Duration::from_secs(20))
                .is_err()
        })
        .count();
    assert!(failed >= 4, "{minimal} failed {failed} of 5 replays");
}

#[test]
fn without_pauses_the_blocking_server_looks_correct() {
    blocking_run(Chance::NEVER)
        .cycles(40)
        .try_run_for(Duration::from_secs(60))
        .expect("paced delivery never leaves a line unfinished for long");
}

#[test]
fn a_correct_server_serves_the_others_through_every_pause_with_the_oracles_on() {
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", None))
        .blobs(blob_dir())
        .connections(20)
        .disruptions(
            Disruptions::default()
                .stall(Chance::ALWAYS)
                .stall_time(Duration::from_millis(200)),
        )
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(3)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
    assert!(report.stats().deliveries >= 15, "{report}");
    assert!(
        report.stats().stalled * 2 >= report.stats().deliveries,
        "most deliveries paused (those whose blob has a record of two bytes or more):\n{report}"
    );
}

#[test]
fn a_paused_case_string_replays_its_pause() {
    let case: Case = "v1:ping.txt:2,4;stall=2@300ms".parse().unwrap();
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", None))
        .blobs(blob_dir())
        .replay(case.to_string())
        .try_run_for(Duration::from_secs(20))
        .unwrap_or_else(|f| panic!("the correct server passes:\n{f}"));
    assert!(
        report.stats().stalled >= 1,
        "the pause was kept, its probe served:\n{report}"
    );
}

#[test]
fn the_delivery_record_holds_each_pause_probe_as_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.txt");
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", None))
        .blobs(blob_dir())
        .connections(10)
        .disruptions(
            Disruptions::default()
                .stall(Chance::ALWAYS)
                .stall_time(Duration::from_millis(100)),
        )
        .cycles(2)
        .control(stutterfuzz::RunControl::default().record(&record))
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
    let text = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let stats = report.stats();
    assert!(stats.stalled > 0, "{report}");
    assert_eq!(
        lines.len() as u64,
        stats.deliveries + stats.stalled,
        "one line per delivery and one per probe:\n{text}"
    );
}

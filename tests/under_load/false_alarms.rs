//! Correct servers draw no finding with both response oracles and every default stress mode
//! on: one that closes some milliseconds after its last answer, one whose binary answers
//! carry a counter and random bytes, one that rotates the order of its records, one that is
//! not ready for its first 500 ms, one that says in each answer how long the command waited
//! for its rest, each with two CPU-bound processes beside it. A finding is a promise that a
//! correct server never breaks.

use crate::common;

use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::{Chance, Disruptions};

use common::{blob_dir, fixture_command};
use stutterfuzz::{Report, Stutter};

/// How long each correct server is fuzzed.
const FUZZ_FOR: Duration = Duration::from_secs(8);

/// Fuzzes a correct fixture with two CPU-bound processes beside it for the whole run: the
/// verdict must hold on a loaded machine as on a quiet one.
fn fuzz_correct(fixture: &str, slow_read_chance: Option<u32>) -> Report {
    let _hogs = crate::CpuHogs::start(2);
    let mut stutter = common::stutter("127.0.0.1:0")
        .server(fixture_command(fixture, None))
        .blobs(blob_dir())
        .oracle(AnswerOracle::same().within(Duration::from_secs(3)));
    if let Some(one_in) = slow_read_chance {
        stutter = stutter.disruptions(Disruptions::default().slow_read(Chance::one_in(one_in)));
    }
    let report = match stutter.try_run_for(FUZZ_FOR) {
        Ok(report) => report,
        Err(failure) => panic!("{fixture} is correct, yet:\n{failure}"),
    };
    assert!(
        report.stats().deliveries > 50,
        "{fixture} was fuzzed: {}",
        report.stats()
    );
    report
}

#[test]
fn a_server_that_closes_10ms_after_its_last_answer_is_clean() {
    // Slow readers too, which read on until the close.
    let report = fuzz_correct("late-close-server", Some(5));
    assert!(report.stats().slow_reads > 0, "{}", report.stats());
}

#[test]
fn a_binary_answer_with_a_counter_and_random_bytes_is_clean() {
    fuzz_correct("binary-counter-server", None);
}

#[test]
fn records_in_rotating_order_are_clean() {
    fuzz_correct("rotating-records-server", None);
}

#[test]
fn a_server_not_ready_for_its_first_500ms_is_clean() {
    fuzz_correct("slow-start-server", None);
}

#[test]
fn the_same_servers_with_a_planted_bug_are_still_found() {
    // The gate does not hide a wrong answer: the split-wrong fixture answers otherwise
    // when a line arrives in pieces, every time.
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server-splitwrong", None))
        .blobs(blob_dir())
        .oracle(AnswerOracle::same().within(Duration::from_secs(3)))
        .seed(3)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the wrong answer is found");
    let text = failure.to_string();
    assert!(
        failure.finding().is_some(),
        "a finding, not a setup error: {text}"
    );
    assert!(text.contains("differs from the response"), "{text}");
    let _ = Stutter::new("127.0.0.1:0");
}

#[test]
fn a_server_that_reports_how_long_each_command_waited_is_clean() {
    // Split, every command waits for its rest, and the answer says so: timing, not parsing.
    fuzz_correct("timing-server", None);
}

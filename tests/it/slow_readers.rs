//! Slow readers: a small receive window and small, spaced reads make the server's writes
//! come up short. A server that assumes `write()` writes everything is found this way, and
//! only this way; correct servers stay clean.

use crate::common;

use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::{Chance, Disruptions};

use common::fixture_command;
use stutterfuzz::FindingKind;

/// A large value stored, then read back: a reply of 2 MB. Large enough that a slow reader's
/// small window makes the server's one write come up short whatever the congestion control
/// sizes its send buffer to (measured here: after 20 kB once, after 627 kB with bbr), small
/// enough that a fast reader's never does (it took 2.9 MB and more at once).
fn big_value() -> String {
    format!("SET big {}\nGET big\n", "v".repeat(2_000_000))
}

fn against(fixture: &str) -> stutterfuzz::Stutter {
    common::stutter("127.0.0.1:0")
        .server(fixture_command(fixture, None))
        .blob("big", big_value())
        .connections(8)
        .oracle(AnswerOracle::same())
}

#[test]
fn a_server_that_ignores_short_writes_is_found_by_slow_readers_and_replays() {
    let failure = against("short-write-server")
        .disruptions(Disruptions::default().slow_read(Chance::one_in(3)))
        .try_run_for(Duration::from_secs(60))
        .expect_err("a slow reader's reply arrives truncated");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ResponseDiffers { .. }),
        "{finding}"
    );
    let culprit = finding
        .culprit()
        .unwrap_or_else(|| panic!("a culprit:\n{finding}"));
    assert_eq!(culprit.blob(), "big");
    let minimal = finding.minimal().expect("a minimal case").clone();
    assert!(
        minimal.slow().is_some(),
        "the minimal case reads slowly: {minimal}"
    );
    let replayed = against("short-write-server")
        .replay(minimal.to_string())
        .try_run_for(Duration::from_secs(30));
    assert!(replayed.is_err(), "{minimal} fails again on replay");
}

#[test]
fn without_slow_readers_the_short_write_bug_stays_hidden() {
    let report = against("short-write-server")
        .disruptions(Disruptions::default().slow_read(Chance::NEVER))
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("fast readers never make a write come up short:\n{f}"));
    assert_eq!(report.stats().slow_reads, 0);
}

#[test]
fn a_correct_server_is_clean_with_every_reader_slow_and_its_buffer_fills() {
    let report = against("line-server")
        .disruptions(Disruptions::default().slow_read(Chance::ALWAYS))
        .cycles(10)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
    let stats = report.stats();
    assert_eq!(stats.slow_reads, stats.deliveries, "{report}");
    assert!(
        stats.backpressured > 0,
        "slow readers filled the server's send buffer:\n{report}"
    );
}

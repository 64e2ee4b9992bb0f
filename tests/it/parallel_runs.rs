//! Two runs in one test binary, at the same time, in parallel threads: neither disturbs the
//! other. Each has its own server, its own sock_diag socket, and (in process) its own
//! threads known to the panic hook by identity.

use crate::common;

use std::time::Duration;
use stutterfuzz::Regressions;
use stutterfuzz::Shrinking;

use common::{blob_dir, fixture_command};
use stutterfuzz::{FindingKind, RunEnd, Stutter};
use stutterfuzz_fixtures::tokio_server;

#[test]
fn a_panicking_in_process_server_beside_a_correct_one_is_found_and_only_there() {
    let (buggy, correct) = std::thread::scope(|scope| {
        let buggy = scope.spawn(|| {
            Stutter::serve(tokio_server::serve_panicking)
                .regressions(Regressions::Off)
                .blobs(blob_dir())
                .cycles(50)
                .shrinking(Shrinking::default().time(Duration::from_secs(3)))
                .try_run_for(Duration::from_secs(60))
        });
        let correct = scope.spawn(|| {
            Stutter::serve(tokio_server::serve_correct)
                .regressions(Regressions::Off)
                .blobs(blob_dir())
                .cycles(40)
                .try_run_for(Duration::from_secs(60))
        });
        (buggy.join().unwrap(), correct.join().unwrap())
    });
    let report = correct.unwrap_or_else(|failure| panic!("the correct server passes:\n{failure}"));
    assert_eq!(report.stats().deliveries, 5 * 40);
    let failure = buggy.expect_err("the planted panic is found");
    let finding = failure.finding().expect("a finding");
    let FindingKind::OutputMatched { stream, line, .. } = finding.kind() else {
        panic!("expected a task panic:\n{finding}");
    };
    assert_eq!(*stream, "panic");
    assert!(line.contains("a read ends at a line end"), "{line}");
}

#[test]
fn two_spawned_servers_fuzzed_at_once_both_finish_their_cycles() {
    let run = || {
        common::stutter("127.0.0.1:0")
            .server(fixture_command("line-server", None))
            .blobs(blob_dir())
            .cycles(30)
            .connections(20)
            .try_run_for(Duration::from_secs(60))
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(run);
        let b = scope.spawn(run);
        (a.join().unwrap(), b.join().unwrap())
    });
    for outcome in [a, b] {
        let report = outcome.unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(report.end(), RunEnd::CyclesDone);
        assert_eq!(report.stats().deliveries, 5 * 30);
    }
}

//! Servers that are futures in the test's own process.

use crate::common;

use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::Shrinking;

use common::blob_dir;
use stutterfuzz::{FindingKind, Stutter};

#[test]
fn a_panicking_task_of_an_in_process_server_is_found() {
    let failure = Stutter::serve(stutterfuzz_fixtures::tokio_server::serve_panicking)
        .regressions(Regressions::Off)
        .blobs(blob_dir())
        .cycles(50)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the planted bug is found");
    let finding = failure.finding().expect("a finding");
    let FindingKind::OutputMatched { stream, line, .. } = finding.kind() else {
        panic!("expected a task panic:\n{finding}");
    };
    assert_eq!(*stream, "panic");
    assert!(line.contains("a read ends at a line end"), "{line}");
    assert!(
        finding
            .to_string()
            .contains("a task of the in-process server panicked"),
        "{finding}"
    );
    assert!(
        finding
            .to_string()
            .contains("in-process server on 127.0.0.1:"),
        "{finding}"
    );
    // Narrowed on a fresh in-process server each time.
    let culprit = finding
        .culprit()
        .unwrap_or_else(|| panic!("a culprit:\n{finding}"));
    assert!(finding.minimal().unwrap().splits().len() <= culprit.splits().len());
}

#[test]
fn a_correct_in_process_server_passes() {
    let report = Stutter::serve(stutterfuzz_fixtures::tokio_server::serve_correct)
        .regressions(Regressions::Off)
        .blobs(blob_dir())
        .oracle(AnswerOracle::same())
        .cycles(20)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 5 * 20);
    assert_eq!(report.server_pid(), None);
}

#[test]
fn an_in_process_server_that_returns_is_a_finding() {
    let failure = Stutter::serve(|listener: tokio::net::TcpListener| async move {
        // Serves some connections (closing each at once), then returns while fuzzed, as a
        // server with a broken accept loop would. (Answers are not compared: with no blob's
        // answer taken and no delivery begun it would be a setup error.)
        for _ in 0..20 {
            let _ = listener.accept().await;
        }
    })
    .regressions(Regressions::Off)
    .blobs(blob_dir())
    .oracle(AnswerOracle::none())
    .cycles(20)
    .connections(4)
    .shrinking(Shrinking::default().time(Duration::from_secs(1)))
    .try_run_for(Duration::from_secs(30))
    .expect_err("the server stops");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ServerTaskEnded { panic: None }),
        "{finding}"
    );
}

/// The one-line setup error a run of the in-process `placeholder` ends in.
fn placeholder_error<F, Fut>(placeholder: F) -> String
where
    F: Fn(tokio::net::TcpListener) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let failure = Stutter::serve(placeholder)
        .regressions(Regressions::Off)
        .blobs(blob_dir())
        .try_run_for(Duration::from_secs(30))
        .expect_err("a placeholder serves nobody");
    let stutterfuzz::Failure::Setup(error) = &failure else {
        panic!("a setup error, not a finding:\n{failure}");
    };
    let text = error.to_string();
    assert!(
        text.contains("future returned before the first delivery"),
        "{text}"
    );
    text
}

#[test]
fn a_placeholder_that_returns_a_moment_after_it_started_is_a_setup_error_too() {
    placeholder_error(|listener| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(listener);
    });
}

#[test]
fn a_placeholder_future_that_returns_at_once_is_a_setup_error_said_at_once() {
    async fn placeholder(listener: tokio::net::TcpListener) {
        drop(listener);
    }
    let text = placeholder_error(placeholder);
    assert!(text.contains("listener.accept()"), "{text}");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
}

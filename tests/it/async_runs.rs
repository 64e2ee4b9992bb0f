//! The async entry points: a server spawned on the test's own runtime is fuzzed while it
//! runs there, on a current-thread runtime (`#[tokio::test]`) and on a multi-threaded one.

use crate::common;

use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;
use stutterfuzz::Shrinking;

use common::blob_dir;
use stutterfuzz::{FindingKind, RunEnd, Stutter};
use stutterfuzz_fixtures::tokio_server;

/// The number of blobs in the fixture directory.
const BLOBS: u64 = 5;

async fn listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback listener");
    let addr = listener.local_addr().expect("it has an address");
    (listener, addr)
}

#[tokio::test]
async fn a_server_on_the_tests_own_single_threaded_runtime_is_fuzzed() {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(tokio_server::serve_correct(listener));
    let report = common::stutter(addr)
        .blobs(blob_dir())
        .cycles(20)
        .run_for_async(Duration::from_secs(30))
        .await;
    server.abort();
    assert_eq!(report.end(), RunEnd::CyclesDone);
    assert_eq!(report.stats().deliveries, BLOBS * 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_the_tests_own_multi_threaded_runtime_is_fuzzed() {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(tokio_server::serve_correct(listener));
    let report = common::stutter(addr)
        .blobs(blob_dir())
        .cycles(20)
        .oracle(AnswerOracle::same())
        .run_for_async(Duration::from_secs(30))
        .await;
    server.abort();
    assert_eq!(report.stats().deliveries, BLOBS * 20);
}

#[tokio::test]
async fn a_bug_in_a_server_on_the_tests_own_runtime_is_found() {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(tokio_server::serve_panicking(listener));
    let failure = common::stutter(addr)
        .blobs(blob_dir())
        .cycles(50)
        .oracle(AnswerOracle::same())
        .shrinking(Shrinking::default().time(Duration::from_secs(5)))
        .try_run_for_async(Duration::from_secs(30))
        .await
        .expect_err("a split command kills its connection's task, so its answer differs");
    server.abort();
    let finding = failure.finding().expect("a finding, not a setup error");
    assert!(
        matches!(finding.kind(), FindingKind::ResponseDiffers { .. }),
        "{finding}"
    );
}

#[tokio::test]
async fn a_target_delivers_to_a_server_on_the_tests_own_runtime() {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(tokio_server::serve_correct(listener));
    let target = common::stutter(addr).start().expect("the server listens");
    let request = b"SET k v\nGET k\n";
    let split = "[3, 11]".parse().expect("a split pattern");
    let delivered = target
        .deliver_async(request, &split)
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(delivered.chunks(), 2);
    assert!(
        !delivered.response().bytes().is_empty(),
        "the server answered: {:?}",
        delivered.response()
    );
    let refused = target
        .deliver(request, &split)
        .expect_err("a blocking delivery would stall this runtime's only thread");
    assert!(refused.to_string().contains("deliver_async"), "{refused}");
    target.stop();
    server.abort();
}

/// The async entry points' futures can be spawned on a multi-threaded runtime.
#[test]
fn the_async_runs_can_be_spawned() {
    fn spawnable<T: Send>(_: &T) {}
    let stutter = common::stutter("127.0.0.1:1");
    let run = stutter.try_run_for_async(Duration::from_secs(1));
    spawnable(&run);
    let run = stutter.run_for_async(Duration::from_secs(1));
    spawnable(&run);
}

#[tokio::test]
async fn a_server_task_that_panics_is_found_when_the_harness_runs_the_server() {
    // The README's async pattern: the server given to `Stutter::serve` runs on the
    // harness's runtime, whose task panics are watched, even from an async test. (A server
    // `tokio::spawn`ed on the test's own runtime is not: its panics never reach the
    // harness.)
    let failure = Stutter::serve(tokio_server::serve_panicking)
        .regressions(Regressions::Off)
        .blobs(blob_dir())
        .cycles(50)
        .shrinking(Shrinking::default().time(Duration::from_secs(5)))
        .try_run_for_async(Duration::from_secs(30))
        .await
        .expect_err("a split command panics a task of the server");
    let finding = failure.finding().expect("a finding, not a setup error");
    assert!(finding.kind().headline().contains("panicked"), "{finding}");
}

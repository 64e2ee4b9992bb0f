//! Protocol failures: a server that answers a split delivery with an HTTP/2 GOAWAY carrying an
//! error code, or a WebSocket close saying protocol error, is found with no answer compared;
//! a correct server stays clean.

use std::time::Duration;

use stutterfuzz::{AnswerOracle, FindingKind};

use crate::common::{self, fixture_command};

/// The protocol failure `fixture` answers a blob of `fixtures/<dir>` with, found with the
/// answer oracle off within 10 s of fuzzing, and the report's text. Narrowing gets 5 s, as in
/// `frames.rs`.
fn protocol_failure(fixture: &str, dir: &str) -> (FindingKind, String) {
    let failure = common::find_planted(
        fixture,
        dir,
        Some(AnswerOracle::none()),
        Duration::from_secs(20),
    );
    let finding = failure.finding().expect("a finding");
    (finding.kind().clone(), finding.to_string())
}

#[test]
fn an_http2_goaway_is_found_without_comparing_answers() {
    let (kind, report) = protocol_failure("h2-frame-server-buggy", "h2");
    assert_eq!(
        common::failure_frame(&kind),
        Some(("HTTP/2", "GOAWAY", 1)),
        "{report}"
    );
    // The answer that held it, as its frames say, with the comparison off too.
    assert!(
        report.contains(", read as HTTP/2 streams (")
            && report.contains("\n  goaway: PROTOCOL_ERROR, last stream 1\n"),
        "{report}"
    );
    assert!(
        report.starts_with(
            "stutterfuzz found a bug: the server answered a split delivery with an HTTP/2 GOAWAY (PROTOCOL_ERROR), where the blob sent whole got none"
        ),
        "{report}"
    );
}

#[test]
fn a_websocket_close_1002_is_found_without_comparing_answers() {
    let (kind, report) = protocol_failure("ws-frame-server-buggy", "ws");
    assert_eq!(
        common::failure_frame(&kind),
        Some(("WebSocket", "close", 1002)),
        "{report}"
    );
    assert!(
        report.contains(", read as WebSocket messages (")
            && report.contains("\n  close 1002 (protocol error)\n"),
        "{report}"
    );
    assert!(
        report.contains("with a WebSocket close 1002 (protocol error)"),
        "{report}"
    );
}

#[test]
fn a_correct_server_stays_clean_without_comparing_answers() {
    let outcome = common::stutter("127.0.0.1:0")
        .server(fixture_command("line-server", None))
        .blobs(common::blob_dir())
        .oracle(AnswerOracle::none())
        .seed(7)
        .try_run_for(Duration::from_secs(3));
    let report = match outcome {
        Ok(report) => report,
        Err(failure) => panic!("a false alarm:\n{failure}"),
    };
    let stats = report.stats();
    assert!(stats.deliveries > 100, "{stats:?}");
    assert_eq!(
        (stats.unconfirmed, stats.unsplit_fails),
        (0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_blob_the_server_rejects_whole_is_no_finding_and_does_not_slow_the_run() {
    // Not HTTP/2: the server answers its SETTINGS, then GOAWAY with PROTOCOL_ERROR, however
    // the blob is cut.
    let outcome = common::stutter("127.0.0.1:0")
        .server(fixture_command("h2-frame-server-buggy", None))
        .blob("http1", &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..])
        .oracle(AnswerOracle::none())
        .seed(7)
        .try_run_for(Duration::from_secs(3));
    let report = match outcome {
        Ok(report) => report,
        Err(failure) => panic!("a false alarm:\n{failure}"),
    };
    let stats = report.stats();
    assert!(stats.unsplit_fails > 0, "{stats:?}");
    // Each confirmation alone costs two whole answers' quiet (0.4 s): taken at every
    // delivery, the run made about 14 deliveries a second.
    assert!(stats.deliveries > 300, "{stats:?}");
}

#[test]
fn a_blob_the_server_rejects_whole_is_a_warning_with_the_answers_compared_too() {
    // With the comparison on, every answer (SETTINGS, then GOAWAY) is the whole blob's:
    // nothing differs, and the stats must still say that nothing was tested.
    let outcome = common::stutter("127.0.0.1:0")
        .server(fixture_command("h2-frame-server-buggy", None))
        .blob("http1", &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..])
        .seed(7)
        .try_run_for(Duration::from_secs(2));
    let report = match outcome {
        Ok(report) => report,
        Err(failure) => panic!("a false alarm:\n{failure}"),
    };
    let stats = report.stats();
    assert!(stats.unsplit_fails > 0, "{stats:?}");
    assert!(
        stats.to_string().contains("warning: unsplit_fails="),
        "{stats}"
    );
}

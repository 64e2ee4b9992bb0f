//! Framed protocols: servers whose parsers break when reads end inside frame headers are
//! found within seconds, because the generator knows where HTTP/2 and WebSocket frames
//! begin and cuts inside their headers.

use std::time::Duration;

use stutterfuzz::{Failure, FindingKind};

use crate::common;

/// What `fixture` was found doing on the blobs of `fixtures/<dir>` within 10 s of fuzzing,
/// with the answers compared (the default), and narrowed within 5 s.
fn found(fixture: &str, dir: &str) -> Failure {
    common::find_planted(fixture, dir, None, Duration::from_secs(10))
}

#[test]
fn an_http2_server_that_counts_reads_as_continuation_frames_is_found() {
    let failure = found("h2-frame-server-buggy", "h2");
    let finding = failure.finding().expect("a finding");
    // The answer differs too; the GOAWAY it ends with names the finding.
    assert_eq!(
        common::failure_frame(finding.kind()),
        Some(("HTTP/2", "GOAWAY", 1)),
        "{finding}"
    );
    // Seven reads ending inside the header block: 8 chunks at least, 8 in every run measured
    // (`cargo bench --bench search -- --frames-narrowing-only`); the minimal case fails again.
    let minimal = finding.minimal().expect("a minimal case");
    assert!(minimal.splits().len() <= 9, "{finding}");
    // Where its cuts fall, said by frame.
    assert!(
        finding
            .to_string()
            .contains("in frames: HEADERS on stream 1 (bytes 64-75), cut after bytes "),
        "{finding}"
    );
    assert_eq!(finding.reproduced(), Some((3, 3)), "{finding}");
}

#[test]
fn a_websocket_server_that_misreads_a_cut_extended_length_is_found() {
    let failure = found("ws-frame-server-buggy", "ws");
    let finding = failure.finding().expect("a finding");
    assert_eq!(
        common::failure_frame(finding.kind()),
        Some(("WebSocket", "close", 1002)),
        "{finding}"
    );
}

#[test]
fn an_http2_server_whose_answers_bytes_change_with_its_reads_is_no_finding() {
    // It answers the streams of one read highest number first, acknowledges after them,
    // and indexes a header once: almost every split changes its answer's bytes, never
    // what the answer says per stream.
    let outcome = common::stutter("127.0.0.1:0")
        .server(common::fixture_command("h2-reordering-server", None))
        .blobs(common::fixtures_dir("h2-streams"))
        .seed(7)
        .try_run_for(Duration::from_secs(4));
    let report = match outcome {
        Ok(report) => report,
        Err(failure) => panic!("a false alarm:\n{failure}"),
    };
    let stats = report.stats();
    assert!(stats.deliveries > 300, "{stats:?}");
    assert_eq!(stats.unconfirmed, 0, "{stats:?}");
}

#[test]
fn a_wrong_http2_answer_is_found_and_shown_per_stream() {
    let failure = found("h2-reordering-server-buggy", "h2-streams");
    let finding = failure.finding().expect("a finding");
    let FindingKind::ResponseDiffers {
        expected,
        actual,
        decoded,
        ..
    } = finding.kind()
    else {
        panic!("the answer differs:\n{finding}");
    };
    assert_eq!(*decoded, Some("HTTP/2"));
    // The answers as a report shows them: per stream, the headers decoded.
    let (expected, actual) = (
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(actual),
    );
    assert!(
        expected.contains("stream 1 headers:\n  :status: 200\n  server: stutterfuzz-fixture\n"),
        "{expected}"
    );
    assert!(actual.contains("  :status: 400\n"), "{actual}");
    let report = finding.to_string();
    assert!(
        report.contains("of the response read as HTTP/2 streams"),
        "{report}"
    );
    assert!(report.contains("HPACK-decoded"), "{report}");
    assert_eq!(finding.reproduced(), Some((3, 3)), "{finding}");
}

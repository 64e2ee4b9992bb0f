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
        finding.kind(),
        &FindingKind::ProtocolFailure {
            protocol: "HTTP/2",
            what: "GOAWAY",
            code: 1,
        }
    );
    // Seven reads ending inside the header block: 8 chunks at least, 8 in every run measured
    // (`cargo bench --bench search -- --frames-narrowing-only`); the minimal case fails again.
    let minimal = finding.minimal().expect("a minimal case");
    assert!(minimal.splits().len() <= 9, "{finding}");
    assert_eq!(finding.reproduced(), Some((3, 3)), "{finding}");
}

#[test]
fn a_websocket_server_that_misreads_a_cut_extended_length_is_found() {
    assert_eq!(
        found("ws-frame-server-buggy", "ws")
            .finding()
            .expect("a finding")
            .kind(),
        &FindingKind::ProtocolFailure {
            protocol: "WebSocket",
            what: "close",
            code: 1002,
        }
    );
}

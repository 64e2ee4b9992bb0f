//! Framed protocols: servers whose parsers break when reads end inside frame headers are
//! found within seconds, because the generator knows where HTTP/2 and WebSocket frames
//! begin and cuts inside their headers.

use std::path::Path;
use std::time::{Duration, Instant};

use stutterfuzz::{FindingKind, Shrinking};

use crate::common::{self, fixture_command};

/// What `fixture` was found doing on the blobs of `fixtures/<dir>` within 10 s of fuzzing,
/// with the answers compared (the default). Narrowing gets 5 s: a case that needs many cuts
/// inside one header loses the bug when any is dropped.
fn found(fixture: &str, dir: &str) -> FindingKind {
    let started = Instant::now();
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command(fixture, None))
        .blobs(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(dir),
        )
        .seed(7)
        .shrinking(Shrinking::default().time(Duration::from_secs(5)))
        .try_run_for(Duration::from_secs(10))
        .expect_err("the planted bug is found");
    let finding = failure.finding().expect("a finding");
    eprintln!(
        "{fixture}: found after {:.1} s of fuzzing, {} deliveries; {:.1} s in all; minimal {:?}",
        finding.stats().elapsed.as_secs_f64(),
        finding.stats().deliveries,
        started.elapsed().as_secs_f64(),
        finding.minimal().map(|c| c.splits().to_string()),
    );
    assert!(finding.stats().elapsed < Duration::from_secs(10));
    finding.kind().clone()
}

#[test]
fn an_http2_server_that_counts_reads_as_continuation_frames_is_found() {
    // The answer differs too; the GOAWAY it ends with names the finding.
    assert_eq!(
        found("h2-frame-server-buggy", "h2"),
        FindingKind::ProtocolFailure {
            protocol: "HTTP/2",
            what: "GOAWAY",
            code: 1,
        }
    );
}

#[test]
fn a_websocket_server_that_misreads_a_cut_extended_length_is_found() {
    assert_eq!(
        found("ws-frame-server-buggy", "ws"),
        FindingKind::ProtocolFailure {
            protocol: "WebSocket",
            what: "close",
            code: 1002,
        }
    );
}

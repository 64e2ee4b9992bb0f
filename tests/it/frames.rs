//! Framed protocols: servers whose parsers break when reads end inside frame headers are
//! found within seconds, because the generator knows where HTTP/2 and WebSocket frames
//! begin and cuts inside their headers.

use std::path::Path;
use std::time::{Duration, Instant};

use stutterfuzz::{Failure, FindingKind, Shrinking};

use crate::common::{self, fixture_command};

/// What `fixture` was found doing on the blobs of `fixtures/<dir>` within 10 s of fuzzing,
/// with the answers compared (the default), and narrowed within 5 s: a case that needs many
/// cuts inside one header loses the bug when any is dropped, so they are moved and merged
/// there first.
fn found(fixture: &str, dir: &str) -> Failure {
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
    failure
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

//! Framed protocols: servers whose parsers break when reads end inside frame headers are
//! found within seconds, because the generator knows where HTTP/2 and WebSocket frames
//! begin and cuts inside their headers.

use std::path::Path;
use std::time::{Duration, Instant};

use stutterfuzz::{FindingKind, Shrinking};

use crate::common::{self, fixture_command};

/// The answer that differed from the blob's whole answer, found by `fixture` on the blobs of
/// `fixtures/<dir>` within 10 s of fuzzing. Narrowing gets 5 s: a case that needs many cuts
/// inside one header loses the bug when any is dropped.
fn differing_answer(fixture: &str, dir: &str) -> Vec<u8> {
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
    let FindingKind::ResponseDiffers { actual, .. } = finding.kind() else {
        panic!("expected a different answer:\n{finding}");
    };
    eprintln!(
        "{fixture}: found after {:.1} s of fuzzing, {} deliveries; {:.1} s in all; minimal {:?}",
        finding.stats().elapsed.as_secs_f64(),
        finding.stats().deliveries,
        started.elapsed().as_secs_f64(),
        finding.minimal().map(|c| c.splits().to_string()),
    );
    assert!(finding.stats().elapsed < Duration::from_secs(10));
    actual.clone()
}

#[test]
fn an_http2_server_that_counts_reads_as_continuation_frames_is_found() {
    let answer = differing_answer("h2-frame-server-buggy", "h2");
    // GOAWAY (type 7) with PROTOCOL_ERROR (1) ends the answer.
    let goaway = &answer[answer.len().saturating_sub(17)..];
    assert!(
        goaway.len() == 17 && goaway[3] == 7 && goaway[13..] == [0, 0, 0, 1],
        "{answer:?}"
    );
}

#[test]
fn a_websocket_server_that_misreads_a_cut_extended_length_is_found() {
    let answer = differing_answer("ws-frame-server-buggy", "ws");
    assert!(
        answer.ends_with(b"\x88\x02\x03\xea"),
        "a close frame with code 1002 ends the answer: {answer:?}"
    );
}

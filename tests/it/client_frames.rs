//! Client mode cuts a server's answers inside their frame headers, as the server direction
//! cuts requests: a WebSocket client that misreads a 16-bit length when a read ends inside
//! its frame header is found within seconds against a recorded conversation (an upgrade, the
//! server's `101`, four unmasked frames), narrowed to the cut inside that length, and fails
//! again when the case is replayed; its correct twin runs clean.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use stutterfuzz::{ClientFailure, ClientFinding, Regressions, Shrinking, StutterClient};

use crate::common::fixture;

/// Where the long frame's header begins in the recorded answers: after the 129-byte `101`
/// answer and a 15-byte frame.
const LONG_FRAME: usize = 144;

fn ws_client(buggy: bool) -> StutterClient {
    let mut command = Command::new(fixture("ws-frame-client"));
    command.arg("{addr}");
    if buggy {
        command.arg("--buggy");
    }
    StutterClient::command(command)
        .answers(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/client/ws"))
        .regressions(Regressions::Off)
        .seed(7)
}

fn finding_of(run: Result<stutterfuzz::ClientReport, ClientFailure>) -> ClientFinding {
    match run {
        Err(ClientFailure::Finding(finding)) => *finding,
        other => panic!("expected a finding, got {other:?}"),
    }
}

#[test]
fn a_websocket_client_that_misreads_a_cut_extended_length_is_found_narrowed_and_replayed() {
    let finding = finding_of(
        ws_client(true)
            .shrinking(Shrinking::default().time(Duration::from_secs(5)))
            .try_run_for(Duration::from_secs(10)),
    );
    let minimal = finding.minimal().clone();
    assert_eq!(minimal.source(), "chat.ws", "{finding}");
    // One cut, after the header's first two bytes: its 16-bit length is still to come.
    let cuts: Vec<usize> = minimal.answers().boundaries().collect();
    assert_eq!(cuts, [LONG_FRAME + 2], "{finding}");
    assert!(
        finding.to_string().contains("not a server frame header"),
        "{finding}"
    );
    let again = finding_of(
        ws_client(true)
            .replay(minimal.clone())
            .try_run_for(Duration::from_secs(10)),
    );
    assert_eq!(again.minimal(), &minimal);
    let fixed = ws_client(false)
        .replay(minimal)
        .try_run_for(Duration::from_secs(10));
    assert!(
        fixed.is_ok(),
        "the correct client reads the length whole: {fixed:?}"
    );
}

#[test]
fn its_correct_twin_runs_clean() {
    let report = ws_client(false)
        .cycles(100)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.runs(), 100, "{report}");
    assert_eq!(report.unconfirmed(), 0, "{report}");
    assert!(report.fidelity() > 0.99, "{report}");
}

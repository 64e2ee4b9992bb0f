//! A server slow to accept under the run's own load is no finding: with the run drained, it
//! accepts a connection alone, and the run goes on with fewer connections and says so. One
//! that stopped accepting does not accept alone either: found, and said so.

use crate::common;

use std::time::Duration;

use common::{blob_dir, fixture_command};
use stutterfuzz::{FindingKind, Timeouts};

#[test]
fn a_server_slow_to_accept_under_load_is_clean_and_the_run_goes_on_with_fewer_connections() {
    // A listen queue of 4 and 40 ms per accept: 100 connections at once wait seconds.
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("slow-accept-server", None))
        .blobs(blob_dir())
        .timeouts(Timeouts::default().connect(Duration::from_secs(1)))
        .try_run_for(Duration::from_secs(8))
        .unwrap_or_else(|failure| panic!("a slow accept loop is no bug:\n{failure}"));
    let stats = report.stats();
    let slow = stats
        .slow_accepts
        .clone()
        .unwrap_or_else(|| panic!("connects ran out under the load: {stats}"));
    assert!(slow.timeouts > 0 && slow.in_flight > 1, "{slow:?}");
    assert!(slow.connections < 100, "fewer connections: {slow:?}");
    // Alone, within the startup timeout (a SYN the full queue dropped is sent again after
    // a second: the idle accept may take that long).
    assert!(slow.alone < Duration::from_secs(10), "{slow:?}");
    assert!(stats.deliveries > 20, "the run went on: {stats}");
    let text = report.to_string();
    assert!(
        text.contains("warning: slow accepts:") && text.contains("the run went on with"),
        "{text}"
    );
}

#[test]
fn a_server_that_stops_accepting_is_found_and_the_report_says_it_was_alone() {
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("stops-accepting-server", None))
        .blobs(blob_dir())
        .timeouts(
            Timeouts::default()
                .connect(Duration::from_secs(1))
                .startup(Duration::from_secs(2)),
        )
        .try_run_for(Duration::from_secs(30))
        .expect_err("a server that stopped accepting is found");
    let finding = failure.finding().expect("a finding, not a setup error");
    assert!(
        matches!(
            finding.kind(),
            FindingKind::ConnectTimeout { alone: true, .. }
        ),
        "{finding}"
    );
    assert!(
        finding
            .to_string()
            .contains("with no other connection in flight, a connect was not accepted within"),
        "{finding}"
    );
    // No single case shows it: the report says to run the same run again, not one case.
    let text = finding.to_string();
    assert!(
        text.contains(&format!(
            "  reproduce = STUTTERFUZZ_SEED={} cargo test ",
            finding.seed()
        )),
        "{text}"
    );
    assert!(!text.contains("  replay    ="), "{text}");
}

#[test]
fn on_the_command_line_the_same_run_again_keeps_its_budget_and_its_failure_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let failures = dir.path().join("failures");
    let server = format!(
        "{} --listen {{addr}}",
        common::fixture("stops-accepting-server").display()
    );
    let run = common::stutterfuzz_cli()
        .args(["--host", "127.0.0.1", "--port", "0", "--duration", "40s"])
        .args(["--startup-timeout", "2s", "--server", &server])
        .arg("--blob-dir")
        .arg(blob_dir())
        .arg("--failures-dir")
        .arg(&failures)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout) + String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.contains("stopped accepting connections"), "{out}");
    let reproduce = out
        .lines()
        .find(|line| line.contains("  reproduce = "))
        .unwrap_or_else(|| panic!("a reproduce line: {out}"));
    assert!(
        reproduce.contains("--seed ") && reproduce.contains("--duration"),
        "{reproduce}"
    );
    // Replaying the failure file says to run the whole run again, with its budget: as an
    // error when the file holds no case, else before each suspect is replayed alone.
    let file = std::fs::read_dir(&failures)
        .unwrap()
        .next()
        .expect("the finding is saved")
        .unwrap()
        .path();
    let replay = common::stutterfuzz_cli()
        .args(["--host", "127.0.0.1", "--port", "0", "--server", &server])
        .arg("--blob-dir")
        .arg(blob_dir())
        .arg("--replay")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&replay.stderr);
    let said = stderr
        .lines()
        .find(|line| {
            line.contains("no case alone shows this finding; run the whole run again: ")
                || line.contains("never one case alone; each suspect is replayed alone")
        })
        .unwrap_or_else(|| panic!("what to do: {stderr}"));
    assert!(
        said.contains("--duration 40s") && said.contains("--seed "),
        "{said}"
    );
}

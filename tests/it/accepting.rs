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
    assert!(slow.alone < Duration::from_secs(1), "{slow:?}");
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

//! Conversations: blobs that wait for the server between their parts. A server that speaks
//! first and rejects early talkers is fuzzed from a conversation (written by hand, or
//! recorded by `stutterfuzz capture`) with no false alarm, and its planted bug after the
//! greeting is found.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;
use stutterfuzz::AnswerOracle;

use common::fixture_command;
use stutterfuzz::{Case, FindingKind};

const GREETING: &str = "220 ready\r\n";

/// Blobs that wait for the 11-byte greeting, then talk.
fn conversations(dir: &Path) {
    std::fs::write(
        dir.join("set-get"),
        "#~ stutterfuzz conversation\n#~ wait bytes=11\nSET who alice\nGET who\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ping"),
        "#~ stutterfuzz conversation\n#~ wait pattern=220\nPING\n#~ wait pattern=PONG\nECHO again\n",
    )
    .unwrap();
}

#[test]
fn a_greeting_first_server_runs_clean_from_conversations_with_the_oracles_on() {
    let dir = tempfile::tempdir().unwrap();
    conversations(dir.path());
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("greeting-server", None))
        .blobs(dir.path())
        .connections(20)
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
    assert_eq!(report.stats().deliveries, 60, "{report}");
}

#[test]
fn its_bug_after_the_greeting_is_found_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    conversations(dir.path());
    let run = || {
        common::stutter("127.0.0.1:0")
            .server(fixture_command("greeting-server-buggy", None))
            .blobs(dir.path())
            .connections(20)
    };
    let failure = run()
        .try_run_for(Duration::from_secs(60))
        .expect_err("a read that ends mid-line after the greeting");
    let finding = failure.finding().expect("a finding");
    // A connection thread panics: the process prints it (and may die of it).
    assert!(
        matches!(
            finding.kind(),
            FindingKind::ServerDied { .. } | FindingKind::OutputMatched { .. }
        ),
        "{finding}"
    );
    let minimal = finding
        .minimal()
        .unwrap_or_else(|| panic!("a minimal case:\n{finding}"));
    let replayed = run()
        .replay(minimal.to_string())
        .try_run_for(Duration::from_secs(30));
    assert!(replayed.is_err(), "{minimal} fails again on replay");

    // The case string carries the conversation's waits (a v2 string), so it replays the
    // conversation exactly even from a plain file with the same bytes.
    let text = minimal.to_string();
    assert!(text.starts_with("v2:"), "{text}");
    assert!(!minimal.waits().is_empty(), "{text}");
    let file = dir.path().join(minimal.blob());
    let conversation = std::fs::read_to_string(&file).unwrap();
    let plain: String = conversation
        .lines()
        .filter(|l| !l.starts_with("#~ "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, plain).unwrap();
    let replayed = run()
        .replay(text.clone())
        .try_run_for(Duration::from_secs(30));
    assert!(replayed.is_err(), "{text} fails again from a plain file");
    // Without the waits the same chunks talk early, and are turned away before any line is
    // read: nothing to find.
    let early = Case::new(minimal.blob(), minimal.splits().clone()).to_string();
    run()
        .replay(early.clone())
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("{early} without waits passes:\n{f}"));
}

#[test]
fn a_conversation_recorded_by_the_proxy_waits_for_the_greeting_and_fuzzes_clean() {
    let (_server, server_addr) = common::start_fixture("greeting-server", "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured");
    let proxy = common::Proxy::start(&server_addr, &out);
    let addr = proxy.addr.clone();
    // A client that waits for the greeting, and for each answer.
    let mut client = TcpStream::connect(&addr).unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut heard = String::new();
    reader.read_line(&mut heard).unwrap();
    assert_eq!(heard, GREETING);
    client.write_all(b"SET who alice\n").unwrap();
    heard.clear();
    reader.read_line(&mut heard).unwrap();
    assert_eq!(heard, "+OK\n");
    client.write_all(b"GET who\n").unwrap();
    heard.clear();
    reader.read_line(&mut heard).unwrap();
    assert_eq!(heard, "+alice\n");
    drop(reader);
    drop(client);
    let recorded = out.join("0001-set");
    common::wait_until(
        "the proxy writing the conversation",
        Duration::from_secs(5),
        || std::fs::read_to_string(&recorded).is_ok_and(|text| text.ends_with("+alice%0A\n")),
    );
    let (code, rest) = proxy.interrupt();
    assert_eq!(code, Some(0), "{rest}");
    let recorded = std::fs::read_to_string(&recorded).unwrap();
    assert_eq!(
        recorded,
        "#~ stutterfuzz conversation\n#~ heard 220 ready%0D%0A\n#~ wait bytes=11\nSET who alice\n\
         #~ heard +OK%0A\n#~ wait bytes=15\nGET who\n#~ heard +alice%0A\n",
        "the waits, and what the server said before each"
    );

    common::stutter("127.0.0.1:0")
        .server(fixture_command("greeting-server", None))
        .blobs(&out)
        .oracle(AnswerOracle::same())
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the recorded conversation fuzzes clean:\n{f}"));
}

#[test]
fn a_conversation_that_does_not_parse_is_a_setup_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad"),
        "#~ stutterfuzz conversation\nPING\n#~ sleep 5\n",
    )
    .unwrap();
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("greeting-server", None))
        .blobs(dir.path())
        .try_run_for(Duration::from_secs(30))
        .expect_err("a bad conversation");
    let text = failure.to_string();
    assert!(
        failure.setup_error().is_some()
            && text.contains("does not parse: line 3: \"sleep 5\" is not a wait"),
        "{text}"
    );
}

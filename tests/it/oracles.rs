//! Each response oracle finds the bug it is meant for, and a mis-aimed one stays quiet.

use crate::common;

use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::{Chance, Disruptions, OutputRules, Timeouts};

use common::{blob_dir, fixture_command};
use stutterfuzz::{FindingKind, Stutter};

fn against(fixture: &str) -> Stutter {
    common::stutter("127.0.0.1:0")
        .server(fixture_command(fixture, None))
        .seed(3)
}

/// Single-command blobs with `\r\n` terminators, for the CRLF fixture.
fn crlf_blobs(s: Stutter) -> Stutter {
    s.blob("ping", "PING\r\n")
        .blob("echo", "ECHO packet boundaries\r\n")
        .blob("get", "GET missing-key\r\n")
}

#[test]
fn a_wrong_answer_on_a_split_is_found_by_expect_same_response() {
    let failure = against("line-server-splitwrong")
        .blobs(blob_dir())
        .oracle(AnswerOracle::same())
        .cycles(50)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the wrong answer is found");
    let finding = failure.finding().expect("a finding");
    let FindingKind::ResponseDiffers {
        expected,
        actual,
        first_difference,
        ..
    } = finding.kind()
    else {
        panic!("expected a response difference:\n{finding}");
    };
    assert_ne!(expected, actual);
    let first_difference = first_difference.expect("the bytes differ");
    assert_eq!(expected[..first_difference], actual[..first_difference]);
    let report = finding.to_string();
    let minimal = finding.minimal().expect("narrowed");
    assert!(
        report.contains(&format!(
            "the response to the blob sent whole ({} bytes) and to the minimal case {} ({} bytes), from the first byte that differs:",
            expected.len(),
            minimal.splits(),
            actual.len()
        )),
        "the minimal case's own answer:\n{report}"
    );
    assert!(
        report.contains(&format!("^ byte {first_difference}")),
        "{report}"
    );
    assert!(
        report.contains(&format!("from byte {first_difference}")),
        "{report}"
    );
    assert_eq!(
        finding.suspects().len(),
        1,
        "the delivery itself is the culprit"
    );
    assert!(
        report.contains("certain: the bug shows in its own response"),
        "{report}"
    );
    assert!(
        finding.suspects()[0].case().splits().len() > 1,
        "a split delivery"
    );
}

#[test]
fn a_wrong_answer_is_not_reported_with_the_answer_oracles_off() {
    let report = against("line-server-splitwrong")
        .blobs(blob_dir())
        .oracle(AnswerOracle::none())
        .cycles(20)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 5 * 20);
}

#[test]
fn a_user_check_finds_error_replies() {
    let check = |_: &stutterfuzz::Case, r: &stutterfuzz::Response| {
        if r.bytes().windows(4).any(|w| w == b"-ERR") {
            Err(format!(
                "error reply: {}",
                String::from_utf8_lossy(r.bytes()).trim_end()
            ))
        } else {
            Ok(())
        }
    };
    let failure = against("line-server-splitwrong")
        .blobs(blob_dir())
        .oracle(AnswerOracle::none().check(check))
        .cycles(50)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the check objects");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::CheckFailed { message } if message.starts_with("error reply: ")),
        "{finding}"
    );
    // The correct server passes the same check.
    against("line-server")
        .blobs(blob_dir())
        .oracle(AnswerOracle::default().check(check))
        .cycles(10)
        .run_for(Duration::from_secs(60));
}

#[test]
fn a_terminator_straddling_two_reads_is_found_by_the_response_timeout() {
    let failure = crlf_blobs(against("line-server-straddle"))
        .oracle(AnswerOracle::default().within(Duration::from_millis(300)))
        .disruptions(Disruptions::default().close(Chance::NEVER))
        .cycles(100)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the hang is found");
    let finding = failure.finding().expect("a finding");
    let FindingKind::NoResponse {
        received,
        last_boundary,
        ..
    } = finding.kind()
    else {
        panic!("expected no response:\n{finding}");
    };
    assert_eq!(*received, 0);
    let case = finding.suspects()[0].case();
    let blob_len = case.splits().total();
    // The last chunk starts right after the '\r': the terminator straddles it.
    assert_eq!(*last_boundary, blob_len - 1, "{finding}");
    assert!(
        finding
            .to_string()
            .contains("no response 300 ms after the last chunk"),
        "{finding}"
    );
    // Narrowed on the live server, the candidates of each round hanging at once: the
    // smallest form sends the '\n' alone, and it hangs again.
    let minimal = finding
        .minimal()
        .unwrap_or_else(|| panic!("a minimal case:\n{finding}"));
    assert_eq!(minimal.splits().chunks().last(), Some(&1), "{finding}");
    assert!(minimal.splits().len() <= case.splits().len(), "{finding}");
    // Rounds of candidates side by side: the search ends, within its budget.
    assert!(
        finding.to_string().contains("(locally minimal"),
        "{finding}"
    );
    let (failed, _) = finding.reproduced().expect("a reproduction count");
    assert!(failed >= 1, "{finding}");
}

#[test]
fn a_straddle_hang_is_not_reported_with_the_answer_oracles_off() {
    let report = crlf_blobs(against("line-server-straddle"))
        .oracle(AnswerOracle::none())
        .cycles(30)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 3 * 30);
}

#[test]
fn a_panicking_tokio_task_is_found_by_output_watching() {
    let failure = against("tokio-panic-server")
        .blobs(blob_dir())
        .cycles(50)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the panic is found");
    let finding = failure.finding().expect("a finding");
    let FindingKind::OutputMatched {
        stream,
        line,
        pattern,
    } = finding.kind()
    else {
        panic!("expected an output match:\n{finding}");
    };
    assert_eq!((*stream, pattern.as_str()), ("stderr", "panicked at"));
    assert!(line.contains("tokio_server.rs"), "{line}");
    assert!(
        !finding.suspects().is_empty(),
        "the cases in flight are listed"
    );
}

#[test]
fn a_panicking_task_is_not_a_crash_finding_when_output_is_not_watched() {
    // With the answer oracles off too: the answer of a task that died differs.
    let report = against("tokio-panic-server")
        .blobs(blob_dir())
        .oracle(AnswerOracle::none())
        .output(OutputRules::off())
        .cycles(20)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 5 * 20);
    // Ignoring the line has the same effect.
    against("tokio-panic-server")
        .blobs(blob_dir())
        .oracle(AnswerOracle::none())
        .output(OutputRules::default().ignore("tokio_server.rs"))
        .cycles(10)
        .run_for(Duration::from_secs(60));
}

#[test]
fn the_correct_server_passes_with_every_oracle_on() {
    let report = against("line-server")
        .blobs(blob_dir())
        .blob("crlf-ping", "PING\r\n")
        .oracle(
            AnswerOracle::same()
                .within(Duration::from_secs(2))
                .check(|_, response| {
                    if response.bytes().is_empty() {
                        Err("empty response".into())
                    } else {
                        Ok(())
                    }
                }),
        )
        .output(OutputRules::default().fail_on("ERROR"))
        .cycles(60)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 6 * 60);
}

#[test]
fn the_correct_server_runs_clean_under_valgrind() {
    common::require("valgrind", "valgrind");
    let report = common::stutter("127.0.0.1:0")
        .server(stutterfuzz::valgrind(&fixture_command("line-server", None)))
        .timeouts(Timeouts::default().startup(Duration::from_secs(60)))
        .blobs(blob_dir())
        .connections(10)
        .cycles(3)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 5 * 3);
}

#[test]
fn clients_that_change_each_others_answers_are_unconfirmed_not_a_finding() {
    // Twenty copies of one blob at once on one key: each answer depends on the others.
    let report = against("line-server")
        .blob(
            "shared-key",
            "SET counter 1\nGET counter\nDEL counter\nGET counter\n",
        )
        .oracle(AnswerOracle::same())
        .connections(20)
        .cycles(80)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 80);
    assert!(
        report.stats().unconfirmed > 0,
        "copies disturbed each other, and each was cleared alone: {}",
        report.stats()
    );
    assert!(
        report.to_string().contains("(unconfirmed="),
        "the note that says what they are: {report}"
    );
    assert!(
        report.to_string().contains("v1:shared-key:"),
        "the unconfirmed cases are listed: {report}"
    );
    // After three, the blob goes one copy at a time, and the line says so.
    assert_eq!(report.stats().isolated, ["shared-key"], "{report}");
    assert!(
        report.to_string().contains(
            "delivered one at a time since their copies changed each other's answers: shared-key"
        ),
        "{report}"
    );
    // Each with what failed once and how it did alone.
    let listed = &report.stats().unconfirmed_cases;
    assert!(
        listed
            .iter()
            .all(|case| case.contains("(answer differed at byte ") && case.contains(" alone)")),
        "{listed:#?}"
    );
}

#[test]
fn answers_with_a_clock_and_request_ids_are_learnt_not_reported() {
    // Each answer carries the time to the millisecond and an id counted over all clients.
    let report = against("clock-server")
        .blobs(blob_dir())
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(30)
        .run_for(Duration::from_secs(120));
    // Every delivery judged, none reported: what varies was learnt from the whole answers
    // (two at the start, and a fresh one beside each second look).
    assert_eq!(report.stats().deliveries, 5 * 30);
}

#[test]
fn a_mask_leaves_a_part_of_every_answer_out() {
    let report = against("clock-server")
        .blob("ping", "PING\n")
        .oracle(AnswerOracle::same().mask(r"at [0-9:.]+ id=[0-9]+"))
        .connections(1)
        .cycles(20)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 20);
    assert_eq!(
        report.stats().varied,
        0,
        "nothing left to learn: {}",
        report.stats()
    );
    let bad = against("clock-server")
        .blob("ping", "PING\n")
        .oracle(AnswerOracle::default().mask("id=("))
        .try_run_for(Duration::from_secs(10))
        .expect_err("a bad pattern");
    let text = bad.to_string();
    assert!(bad.setup_error().is_some(), "{text}");
    assert!(
        text.contains("\"id=(\" is not a regular expression"),
        "{text}"
    );
}

#[test]
fn a_server_that_prints_exception_traces_gets_a_hint_not_a_finding() {
    // A correct server that logs a Python traceback for every connection and goes on.
    let script = r#"
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
s.listen(64)
while True:
    c, _ = s.accept()
    data = b""
    while not data.endswith(b"\n"):
        d = c.recv(4096)
        if not d:
            break
        data += d
    print("Traceback (most recent call last):\n  File \"srv.py\", line 9\nValueError: demo", file=sys.stderr, flush=True)
    c.sendall(b"+PONG\r\n")
    c.close()
"#;
    let mut server = std::process::Command::new("python3");
    server.args(["-c", script, "{addr}"]);
    let report = common::stutter("127.0.0.1:0")
        .server(server)
        .blob("ping", "PING\r\n")
        // It serves one connection at a time: a pause mid-message would hold up the others.
        .disruptions(Disruptions::none())
        .connections(4)
        .cycles(20)
        .run_for(Duration::from_secs(60));
    let hint = report
        .notes()
        .iter()
        .find(|n| n.contains("exception trace"))
        .unwrap_or_else(|| panic!("a hint:\n{report}"));
    // A Python trace is shown by the exception it names, its last line.
    assert!(hint.contains("(the first: \"ValueError: demo\")"), "{hint}");
    assert!(hint.contains("--fail-on-output 'Traceback'"), "{hint}");
    assert!(
        hint.contains(".output(OutputRules::default().fail_on(\"Traceback\"))"),
        "{hint}"
    );
}

#[test]
fn a_hang_in_a_blob_of_many_lines_narrows_to_a_locally_minimal_case() {
    // Many cuts to drop, each candidate a wait of the response timeout: rounds of candidates
    // side by side must end the search within its attempts (it ran out after 2 rounds once).
    let failure = against("line-server-straddle")
        .blob(
            "lines",
            "PING\r\nECHO packet boundaries are here\r\nGET missing-key\r\nECHO another line of text\r\nPING\r\n",
        )
        .oracle(AnswerOracle::none().within(Duration::from_millis(300)))
        .seed(2)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the hang is found");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::NoResponse { .. }),
        "{finding}"
    );
    let text = finding.to_string();
    assert!(text.contains("(locally minimal"), "{text}");
    let minimal = finding.minimal().expect("a minimal case");
    assert_eq!(minimal.splits().chunks().last(), Some(&1), "{text}");
}

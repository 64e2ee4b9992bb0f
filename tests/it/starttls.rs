//! TLS that starts mid-conversation (`#~ tls`): the clear-text part sent as any conversation,
//! the handshake where the blob marks it, the rest inside TLS, each chunk its own record. A
//! fixture whose parser after the switch takes each read for whole lines is found and
//! narrowed to a cut after the switch; the correct one runs clean with both oracles, a blob
//! without a mark beside it staying plain; a server that refuses the switch, and a run
//! without TLS settings, are one-line setup errors.

use crate::common;
use crate::tls::{certificate, tls_fixture};

use std::path::PathBuf;
use std::time::Duration;

use stutterfuzz::{AnswerOracle, FindingKind, Stutter, TlsOptions};

fn blob_dir() -> PathBuf {
    common::fixtures_dir("starttls")
}

/// How many bytes of the blob are sent: before its TLS mark, and in all.
fn sent_lengths() -> (usize, usize) {
    let text = std::fs::read_to_string(blob_dir().join("session.txt")).unwrap();
    let sent = |part: &str| -> usize {
        part.lines()
            .filter(|line| !line.starts_with("#~ "))
            .map(|line| line.len() + 1)
            .sum()
    };
    let (before, _) = text.split_once("#~ tls").unwrap();
    (sent(before), sent(&text))
}

/// Where the blob marks TLS: the byte after `STARTTLS\n`.
fn tls_at() -> usize {
    sent_lengths().0
}

fn against(server: std::process::Command, cert: &std::path::Path) -> Stutter {
    common::stutter("127.0.0.1:0")
        .server(server)
        .tls(TlsOptions::with_ca(cert))
        .blobs(blob_dir())
        .connections(20)
}

#[test]
fn a_parser_that_takes_each_read_after_starttls_for_whole_lines_is_found_and_narrowed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let buggy = || tls_fixture("starttls-line-server-buggy", &cert, &key);
    let failure = against(buggy(), &cert)
        .try_run_for(Duration::from_secs(60))
        .expect_err("a read after the switch that ends mid-line kills it");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ServerDied { .. }),
        "{finding}"
    );
    let minimal = finding.minimal().expect("a minimal case").clone();
    let at = tls_at();
    // The case keeps where TLS starts, and a cut after it: that is where the parser breaks.
    let case = minimal.to_string();
    assert!(case.contains(&format!("tls@{at}")), "{case}");
    let blob_len = sent_lengths().1;
    assert!(
        minimal.splits().boundaries().any(|end| end > at) || minimal.splits().total() < blob_len,
        "{case}"
    );
    // It fails again when replayed; sent in one record after the switch, it passes.
    let replayed = against(buggy(), &cert)
        .replay(case.clone())
        .try_run_for(Duration::from_secs(30));
    assert!(replayed.is_err(), "{case} fails again on replay");
    // (A minimal case may close early, after a record that ends mid-line: the whole blob is sent
    // here.)
    let whole_after = case.replacen(
        &minimal
            .splits()
            .chunks()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
        &format!("{at},{}", blob_len - at),
        1,
    );
    against(buggy(), &cert)
        .replay(whole_after.clone())
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("{whole_after}, one record after the switch, passes:\n{f}"));
}

#[test]
fn the_correct_starttls_server_runs_clean_with_both_oracles_and_a_plain_blob_stays_plain() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    for oracle in [
        AnswerOracle::same().within(Duration::from_secs(2)),
        AnswerOracle::none(),
    ] {
        let report = against(tls_fixture("starttls-line-server", &cert, &key), &cert)
            // Sent in TLS from its first byte, this one would not be answered at all.
            .blob("ping", "PING\nECHO clear text\n")
            .oracle(oracle)
            .cycles(20)
            .try_run_for(Duration::from_secs(60))
            .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
        assert_eq!(report.stats().deliveries, 40, "{report}");
    }
}

#[test]
fn the_rest_of_the_servers_yes_is_read_before_the_handshake() {
    // The wait matches the start of the yes; its rest comes 2 ms later, in clear text: it
    // must be read as such, not taken for the server's first TLS bytes.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let blobs = dir.path().join("blobs");
    std::fs::create_dir(&blobs).unwrap();
    std::fs::write(
        blobs.join("early-match"),
        "#~ stutterfuzz conversation\nSTARTTLS\n#~ wait pattern=+GO\n#~ tls\nPING\nQUIT\n",
    )
    .unwrap();
    let mut server = tls_fixture("starttls-line-server", &cert, &key);
    server.env("FIXTURE_STARTTLS_YES_IN_PARTS", "1");
    let report = common::stutter("127.0.0.1:0")
        .server(server)
        .tls(TlsOptions::with_ca(&cert))
        .blobs(&blobs)
        .connections(4)
        .cycles(20)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the whole yes is clear text:\n{f}"));
    assert_eq!(report.stats().deliveries, 20, "{report}");
}

#[test]
fn a_server_that_refuses_starttls_is_a_one_line_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let mut refusing = tls_fixture("starttls-line-server", &cert, &key);
    refusing.env("FIXTURE_STARTTLS_REFUSE", "1");
    let failure = against(refusing, &cert)
        .cycles(2)
        .try_run_for(Duration::from_secs(30))
        .expect_err("the switch is refused");
    let error = failure
        .setup_error()
        .unwrap_or_else(|| panic!("a setup error: {failure}"));
    let text = error.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(
        text.starts_with("blob ")
            && text.contains(
                "session.txt: sent whole, the server did not start TLS where it marks `#~ tls`"
            )
            && text.contains(&format!("after byte {}", tls_at()))
            && text.contains("it said last \"-ERR TLS not available\""),
        "{text}"
    );
}

#[test]
fn a_certificate_refused_at_the_mark_names_the_blob_and_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    // A CA certificate used as the server's own: rustls refuses it.
    let (cert, key) = certificate(dir.path(), true);
    let failure = against(tls_fixture("starttls-line-server", &cert, &key), &cert)
        .cycles(2)
        .try_run_for(Duration::from_secs(30))
        .expect_err("the handshake fails");
    let text = failure
        .setup_error()
        .unwrap_or_else(|| panic!("a setup error: {failure}"))
        .to_string();
    assert!(
        text.contains("session.txt: the TLS handshake at its `#~ tls` (after byte")
            && text.contains("--tls-insecure")
            && !text.contains('\n'),
        "{text}"
    );
}

#[test]
fn a_conversation_that_starts_tls_needs_tls_settings() {
    let failure = common::stutter("127.0.0.1:0")
        .server(common::fixture_command("line-server", None))
        .blobs(blob_dir())
        .cycles(1)
        .try_run_for(Duration::from_secs(30))
        .expect_err("whom to trust is not said");
    let text = failure
        .setup_error()
        .unwrap_or_else(|| panic!("a setup error: {failure}"))
        .to_string();
    assert!(
        text.contains("starts TLS mid-conversation (`#~ tls`)") && text.contains("--tls-insecure"),
        "{text}"
    );
}

//! Servers behind TLS: the handshake first, then each chunk its own record. A fixture that
//! takes each record for whole lines is found only because records are cut where chunks
//! are; the correct fixture and `openssl s_server` run clean; a certificate that does not
//! check out is a setup error, not a finding.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::{Chance, Disruptions};

use common::{blob_dir, fixture_command};
use stutterfuzz::{FindingKind, Stutter, TlsOptions};

/// A throwaway certificate for localhost and 127.0.0.1, and its key, made with openssl.
pub(crate) fn certificate(dir: &Path, ca: bool) -> (PathBuf, PathBuf) {
    common::require("openssl", "openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let constraints = if ca { "CA:TRUE" } else { "critical,CA:FALSE" };
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", &format!("basicConstraints={constraints}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl made a certificate");
    (cert, key)
}

pub(crate) fn tls_fixture(name: &str, cert: &Path, key: &Path) -> Command {
    let mut server = fixture_command(name, None);
    server
        .env("FIXTURE_TLS_CERT", cert)
        .env("FIXTURE_TLS_KEY", key);
    server
}

fn against(name: &str, cert: &Path, key: &Path) -> Stutter {
    common::stutter("127.0.0.1:0")
        .server(tls_fixture(name, cert, key))
        .tls(TlsOptions::with_ca(cert))
        .blobs(blob_dir())
        .connections(20)
}

#[test]
fn a_server_that_takes_each_record_for_whole_lines_is_found_with_record_splitting() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let failure = against("tls-line-server-buggy", &cert, &key)
        .try_run_for(Duration::from_secs(60))
        .expect_err("a record that ends mid-line kills it");
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), FindingKind::ServerDied { .. }),
        "{finding}"
    );
    let text = finding.to_string();
    assert!(text.contains(" over TLS, server name 127.0.0.1"), "{text}");
    let minimal = finding.minimal().expect("a minimal case").clone();
    // A record that ends mid-line: cut into records, or closed early mid-line.
    let blob_len = std::fs::metadata(blob_dir().join(minimal.blob()))
        .unwrap()
        .len() as usize;
    assert!(
        minimal.splits().len() >= 2 || minimal.splits().total() < blob_len,
        "{minimal}"
    );
    // The case string says it went over TLS, and will not replay over plain TCP.
    assert!(minimal.is_tls(), "{minimal}");
    assert!(minimal.to_string().ends_with(";tls"), "{minimal}");
    let plain = common::stutter("127.0.0.1:0")
        .server(tls_fixture("tls-line-server-buggy", &cert, &key))
        .blobs(blob_dir())
        .replay(minimal.to_string())
        .try_run_for(Duration::from_secs(30))
        .expect_err("a TLS case does not replay without TLS");
    let text = plain.to_string();
    assert!(text.contains("it was sent over TLS"), "{text}");
    let replayed = against("tls-line-server-buggy", &cert, &key)
        .replay(minimal.to_string())
        .try_run_for(Duration::from_secs(30));
    assert!(replayed.is_err(), "{minimal} fails again on replay");
    // The same blob in one record: no read ends mid-line.
    let whole = format!("v1:{}:{}", minimal.blob(), minimal.splits().total());
    against("tls-line-server-buggy", &cert, &key)
        .replay(whole.clone())
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("{whole} in one record passes:\n{f}"));
}

#[test]
fn the_correct_tls_server_runs_clean_with_both_oracles() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let report = against("tls-line-server", &cert, &key)
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(20)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
    assert_eq!(report.stats().deliveries, 100, "{report}");
}

#[test]
fn openssl_s_server_runs_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let mut server = Command::new("openssl");
    server
        .args(["s_server", "-accept", "{addr}", "-rev", "-quiet", "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key);
    let report = common::stutter("127.0.0.1:0")
        .server(server)
        .tls(TlsOptions::with_ca(&cert).server_name("localhost"))
        .blob("lines", "hello\nworld\npacket boundaries\n")
        .connections(1)
        // s_server serves one connection at a time, by design: a pause would starve the probe.
        .disruptions(Disruptions::default().stall(Chance::NEVER))
        .oracle(AnswerOracle::same())
        .cycles(20)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("openssl s_server -rev answers every split the same:\n{f}"));
    assert_eq!(report.stats().deliveries, 20, "{report}");
}

#[test]
fn a_certificate_that_does_not_check_out_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    // A CA certificate used as the server's own: rustls refuses it.
    let (cert, key) = certificate(dir.path(), true);
    let failure = against("tls-line-server", &cert, &key)
        .cycles(2)
        .try_run_for(Duration::from_secs(30))
        .expect_err("the handshake fails");
    let error = failure
        .setup_error()
        .unwrap_or_else(|| panic!("a setup error: {failure}"));
    let text = error.to_string();
    assert!(
        text.starts_with("the TLS handshake failed") && text.contains("--tls-insecure"),
        "{text}"
    );
    // Skipping the check for a test server works.
    common::stutter("127.0.0.1:0")
        .server(tls_fixture("tls-line-server", &cert, &key))
        .tls(TlsOptions::insecure())
        .blobs(blob_dir())
        .cycles(2)
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("insecure TLS to a test server:\n{f}"));
}

//! Client mode answers a client's STARTTLS: the stand-in (a recorded conversation with a
//! `#~ tls` mark) and the relay in front of a real server (with TLS settings for it) accept
//! the client's handshake with the run's certificate, given to the client as `{cert}`, and
//! cut the answers inside TLS, each chunk its own record. A careful client passes with every
//! cut read alone; one that takes its first read after the switch as the whole answer is
//! found, narrowed to a cut after the switch.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use stutterfuzz::{ClientFailure, Regressions, StutterClient, TlsOptions};

use crate::common::fixture;
use crate::tls::{certificate, tls_fixture};

fn answers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/client/starttls")
}

/// The fixture client: `{addr}`, trusting `{cert}`.
fn starttls_client(one_read: bool) -> Command {
    let mut command = Command::new(fixture("starttls-client"));
    command.args(["--addr", "{addr}", "--ca", "{cert}"]);
    if one_read {
        command.arg("--one-read");
    }
    command
}

fn against_recording(one_read: bool) -> StutterClient {
    StutterClient::command(starttls_client(one_read))
        .answers(answers_dir())
        .regressions(Regressions::Off)
        .seed(5)
}

#[test]
fn a_careful_client_passes_with_cuts_inside_tls_each_read_alone() {
    let report = against_recording(false)
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the careful client passes:\n{f}"));
    assert!(report.runs() >= 30, "{report}");
    assert!(report.boundaries_in_tls() > 0, "cuts inside TLS: {report}");
    assert!(report.fidelity() > 0.99, "each cut read alone: {report}");
    assert!(report.to_string().contains("inside TLS)"), "{report}");
}

#[test]
fn a_client_that_takes_one_read_after_the_switch_as_the_answer_is_found_and_narrowed() {
    let failure = against_recording(true)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the first read after the switch is not the whole answer");
    let ClientFailure::Finding(finding) = failure else {
        panic!("expected a finding, got {failure}");
    };
    // The answers before the switch: `+PONG\n+GO AHEAD\n`, 16 bytes; the cut is after.
    let before = "+PONG\n+GO AHEAD\n".len();
    let chunks = finding.minimal().answers().chunks();
    assert_eq!(chunks.len(), 2, "{finding}");
    assert!(chunks[0] > before, "the cut is inside TLS: {finding}");
    let text = finding.to_string();
    assert!(text.contains("<TLS>"), "{text}");
    assert!(text.contains("TLS starts at <TLS>"), "{text}");
    assert!(text.contains("c1:greeting.txt:"), "{text}");
}

#[test]
fn the_relay_ends_tls_on_both_sides_in_front_of_a_starttls_server() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let client = |one_read: bool| {
        StutterClient::command(starttls_client(one_read))
            .server(tls_fixture("starttls-line-server", &cert, &key))
            .tls(TlsOptions::with_ca(&cert))
            .regressions(Regressions::Off)
            .seed(3)
            .connections(1)
    };
    let report = client(false)
        .cycles(20)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the careful client passes through the relay:\n{f}"));
    assert!(report.boundaries_in_tls() > 0, "cuts inside TLS: {report}");
    let failure = client(true)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the one-read client is found through the relay too");
    assert!(failure.to_string().contains("<TLS>"), "{failure}");
    // Trusting another certificate than the server's: a setup error that says so.
    let other = tempfile::tempdir().unwrap();
    let (wrong, _) = certificate(other.path(), false);
    let refused = client(false)
        .tls(TlsOptions::with_ca(&wrong))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the relay cannot trust the server")
        .to_string();
    assert!(refused.contains("TLS with the server"), "{refused}");
}

/// An in-process client that says `PING` and reads the line back, with whether it was given
/// a certificate to trust that exists.
async fn ping_and_certificate(addr: std::net::SocketAddr) -> (String, Option<bool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = StutterClient::certificate_path().map(|path| path.exists());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"PING\n").await.unwrap();
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early");
        line.extend_from_slice(&buf[..n]);
    }
    (String::from_utf8_lossy(&line).into_owned(), cert)
}

#[test]
fn an_in_process_client_gets_the_certificate_and_tls_for_recorded_answers_is_refused() {
    let client = StutterClient::function(ping_and_certificate)
        .answers(answers_dir())
        .regressions(Regressions::Off)
        .cycles(5);
    client
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("the client reads its line:\n{f}"));
    // The run's certificate, checked from inside the client: the output compared.
    let checked = StutterClient::function(|addr| async move {
        let (line, cert) = ping_and_certificate(addr).await;
        assert_eq!(cert, Some(true), "the run's certificate is there");
        line
    })
    .answers(answers_dir())
    .regressions(Regressions::Off)
    .cycles(2);
    checked
        .try_run_for(Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("the client was given the certificate:\n{f}"));
    assert_eq!(StutterClient::certificate_path(), None, "outside a client");
    let refused = client
        .tls(TlsOptions::insecure())
        .try_run_for(Duration::from_secs(5))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("recorded answers have none"), "{refused}");
    assert!(!refused.contains('\n'), "{refused}");
}

#[test]
fn the_command_line_gives_the_certificate_and_refuses_bad_tls_flags_in_one_line() {
    let stutterfuzz = || assert_cmd::Command::cargo_bin("stutterfuzz").unwrap();
    let client = format!(
        "{} --addr {{addr}} --ca {{cert}}",
        fixture("starttls-client").display()
    );
    let answers = answers_dir();
    let answers = answers.to_str().unwrap();
    let found = stutterfuzz()
        .args(["client", "--client", &format!("{client} --one-read")])
        .args(["--answers", answers, "--seed", "5", "--duration", "60s"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&found.get_output().stdout).into_owned();
    assert!(stdout.contains("TLS starts at <TLS>"), "{stdout}");
    // The certificate and key given are the ones shown: the client trusts that one.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let given = format!(
        "{} --addr {{addr}} --ca {}",
        fixture("starttls-client").display(),
        cert.display()
    );
    stutterfuzz()
        .args(["client", "--client", &given, "--answers", answers])
        .args(["--cycles", "5", "--duration", "30s"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .assert()
        .code(0);
    for (args, expected) in [
        (vec!["--tls-cert", "c.pem"], "--tls-cert needs --tls-key"),
        (vec!["--tls-key", "k.pem"], "--tls-key needs --tls-cert"),
        (vec!["--tls-server-name", "x"], "--tls-server-name needs"),
        (vec!["--tls-insecure"], "--answers has none"),
        (
            vec!["--tls-cert", "no/such.pem", "--tls-key", "no/such.pem"],
            "cannot read the TLS certificate",
        ),
    ] {
        let out = stutterfuzz()
            .args(["client", "--client", &client, "--answers", answers])
            .args(&args)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// An in-process STARTTLS client: `PING`, `STARTTLS`, then TLS trusting the run's
/// certificate (`StutterClient::certificate_path`), `GET greeting`, and the answer line (or,
/// with `one_read`, its first read after the switch).
async fn starttls_in_process(addr: std::net::SocketAddr, one_read: bool) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = StutterClient::certificate_path().expect("the run has a certificate");
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    roots.add_parsable_certificates(certs);
    #[allow(deprecated, reason = "ring's provider is enough for a test client")]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut line = Vec::new();
    for (command, answer) in [(&b"PING\n"[..], "+PONG\n"), (b"STARTTLS\n", "+GO AHEAD\n")] {
        stream.write_all(command).await.unwrap();
        line.clear();
        while !line.ends_with(b"\n") {
            line.push(stream.read_u8().await.unwrap());
        }
        assert_eq!(line, answer.as_bytes());
    }
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = ServerName::try_from(addr.ip().to_string()).unwrap();
    let mut tls = connector.connect(name, stream).await.unwrap();
    tls.write_all(b"GET greeting\n").await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\n") {
        let mut buf = [0u8; 256];
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early");
        answer.extend_from_slice(&buf[..n]);
        if one_read {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_in_process_client_trusts_the_certificate_path_and_its_one_read_is_found() {
    let client = |one_read: bool| {
        StutterClient::function(move |addr| starttls_in_process(addr, one_read))
            .answers(answers_dir())
            .regressions(Regressions::Off)
            .seed(9)
    };
    let report = client(false)
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the careful in-process client passes:\n{f}"));
    assert!(report.boundaries_in_tls() > 0, "{report}");
    let failure = client(true)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the first read after the switch is not the whole answer");
    assert!(failure.to_string().contains("<TLS>"), "{failure}");
}

#[test]
fn a_client_on_a_unix_socket_gets_its_answers_cut_inside_tls_the_same_way() {
    let client = |one_read: bool| {
        let mut command = Command::new(fixture("starttls-client"));
        command.args(["--path", "{path}", "--ca", "{cert}"]);
        if one_read {
            command.arg("--one-read");
        }
        StutterClient::command(command)
            .unix(true)
            .answers(answers_dir())
            .regressions(Regressions::Off)
            .seed(5)
    };
    let report = client(false)
        .cycles(20)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the careful client passes on a Unix socket:\n{f}"));
    assert!(report.boundaries_in_tls() > 0, "{report}");
    assert!(report.fidelity() > 0.99, "each cut read alone: {report}");
    let failure = client(true)
        .try_run_for(Duration::from_secs(60))
        .expect_err("the one-read client is found on a Unix socket too");
    assert!(failure.to_string().contains("<TLS>"), "{failure}");
}

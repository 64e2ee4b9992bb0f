//! `stutterfuzz capture`: a recording proxy between real clients and the server. Bytes pass
//! unchanged both ways; each client connection becomes a blob; Ctrl-C writes the connections
//! still open. With redis-cli in front of Debian's redis-server, the captured blobs then fuzz
//! redis-server clean. A client that starts TLS mid-conversation is recorded inside TLS when
//! the proxy has TLS settings, the blob then fuzzing the server clean, and passed through with
//! a warning when it has none.

use crate::common;
use crate::tls::{certificate, tls_fixture};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stutterfuzz::traffic::RecordingProxy;
use stutterfuzz::{AnswerOracle, TlsOptions};

#[test]
fn each_client_connection_becomes_a_blob_and_answers_pass_unchanged() {
    let (_server, server_addr) = common::start_fixture("line-server", "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured");
    let proxy = common::Proxy::start(&server_addr, &out);
    let addr = proxy.addr.clone();

    let mut first = TcpStream::connect(&addr).unwrap();
    first.write_all(b"SET who alice\nGET w").unwrap();
    // A client that sends a line in two writes, a moment apart.
    std::thread::sleep(Duration::from_millis(20));
    first.write_all(b"ho\n").unwrap();
    first.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "+OK\n+alice\n", "the answers pass unchanged");

    // Still open when the proxy stops: written with what it sent so far.
    let mut second = TcpStream::connect(&addr).unwrap();
    second.write_all(b"PING\n").unwrap();
    let mut pong = [0u8; 6];
    second.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\n");

    let (code, said) = proxy.interrupt();
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("2 connections, 27 bytes, 2 blobs written"),
        "{said}"
    );
    let mut blobs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    blobs.sort();
    // What the server answered is kept for the reader, each at the first line start after
    // the client bytes it came after ("+OK" came while "GET w" was half sent); never sent.
    assert_eq!(
        blobs,
        [
            (
                "0001-set".to_owned(),
                b"#~ stutterfuzz conversation\nSET who alice\nGET who\n#~ heard +OK%0A\n#~ heard +alice%0A\n".to_vec()
            ),
            (
                "0002-ping".to_owned(),
                b"#~ stutterfuzz conversation\nPING\n#~ heard +PONG%0A\n".to_vec()
            ),
        ]
    );
}

/// A redis-server of our own on a port nobody else took meanwhile (the port is picked free,
/// then bound by redis-server: another test may take it between the two, so redis-cli
/// checks that this redis-server answers there, and another port is tried if not).
fn redis_on_a_free_port() -> (common::KillOnDrop, u16) {
    for _ in 0..5 {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut redis = common::KillOnDrop(
            common::redis_server(&port.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if redis.0.try_wait().unwrap().is_some() {
                break; // it could not bind: the port was taken
            }
            let pong = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"])
                .output()
                .unwrap();
            if pong.stdout.starts_with(b"PONG") {
                return (redis, port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("redis-server did not start on a free port in 5 tries");
}

#[test]
fn redis_cli_through_the_proxy_gives_blobs_that_fuzz_redis_server_clean() {
    common::require("redis-cli", "redis-tools");
    let (redis, port) = redis_on_a_free_port();
    let upstream = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("redis");
    let proxy = common::Proxy::start(&upstream, &out);
    let addr = proxy.addr.clone();
    let proxy_port = addr.rsplit_once(':').unwrap().1.to_owned();
    for command in [
        &["set", "greeting", "hello"][..],
        &["get", "greeting"],
        &["incr", "visits"],
        &["del", "greeting"],
    ] {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &proxy_port])
            .args(command)
            .output()
            .unwrap();
        assert!(output.status.success(), "{:?}", output);
    }
    let (code, said) = proxy.interrupt();
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("4 connections"), "{said}");
    drop(redis);

    common::stutter("127.0.0.1:0")
        .server(common::redis_server("{port}"))
        .blobs(&out)
        .oracle(AnswerOracle::same())
        .cycles(40)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("captured redis-cli traffic fuzzes redis-server clean:\n{f}"));
}

#[test]
fn a_binary_clients_turns_and_answers_stand_at_their_bytes() {
    let (_server, server_addr) = common::start_fixture("framed-server-buggy", "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured");
    let proxy = common::Proxy::start(&server_addr, &out);
    let mut client = TcpStream::connect(&proxy.addr).unwrap();
    // Two frames (kind, length in two bytes, payload), each sent once the one before was
    // answered: no line end anywhere in what the client sends.
    let frames: [&[u8]; 2] = [&[1, 0, 3, b'a', b'b', b'c'], &[2, 0, 1, b'x']];
    for (frame, answer) in frames.iter().zip(["OK 1 3\n", "OK 2 1\n"]) {
        client.write_all(frame).unwrap();
        let mut got = vec![0u8; answer.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(got, answer.as_bytes());
    }
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = client.read_to_end(&mut Vec::new());
    let (code, said) = proxy.interrupt();
    assert_eq!(code, Some(0), "{said}");
    let path = out.join("0001-bin-01000361");
    let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; {said}", path.display()));
    let mut expected = b"#~ stutterfuzz conversation\n".to_vec();
    expected.extend_from_slice(frames[0]);
    expected.extend_from_slice(b"\n#~+ heard OK 1 3%0A\n#~ wait bytes=7\n");
    expected.extend_from_slice(frames[1]);
    expected.extend_from_slice(b"\n#~+ heard OK 2 1%0A\n");
    assert_eq!(
        file,
        expected,
        "{}",
        String::from_utf8_lossy(&file).escape_debug()
    );
    // Read back, the blob is the frames alone, waiting for the first answer between them.
    let summary = stutterfuzz::Stutter::new(&server_addr)
        .blobs(&out)
        .blob_summary()
        .unwrap();
    assert_eq!(
        summary.to_string(),
        "Loaded 1 blobs. Bytes: 10 min, 10 mean, 10 max"
    );
}

/// A TLS client that trusts the certificates in `ca`.
fn tls_connector(ca: &Path) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    #[allow(deprecated, reason = "ring's provider is enough for a test client")]
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A client of the STARTTLS line server at `addr`: `PING` in clear text, then `STARTTLS`,
/// the handshake once the server said yes (trusting `ca`, asking for `name`), and three lines
/// inside TLS. What it heard inside TLS.
async fn starttls_client(addr: &str, ca: &Path, name: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut clear = tokio::net::TcpStream::connect(addr).await.unwrap();
    for (line, answer) in [("PING\n", "+PONG\n"), ("STARTTLS\n", "+GO AHEAD\n")] {
        clear.write_all(line.as_bytes()).await.unwrap();
        let mut got = vec![0u8; answer.len()];
        clear.read_exact(&mut got).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&got), answer);
    }
    let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = tls_connector(ca).connect(name, clear).await.unwrap();
    tls.write_all(b"SET k v\nGET k\nQUIT\n").await.unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    // Up to the server's last answer: whether it ends TLS with a close_notify is its own.
    while !heard.ends_with(b"+BYE\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => heard.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&heard).into_owned()
}

/// The STARTTLS line server, behind the certificate `cert` and its key.
fn starttls_server(cert: &Path, key: &Path) -> (common::KillOnDrop, String) {
    common::start(
        Command::new(common::fixture("starttls-line-server"))
            .args(["--listen", "127.0.0.1:0"])
            .env("FIXTURE_TLS_CERT", cert)
            .env("FIXTURE_TLS_KEY", key),
    )
}

/// Records one STARTTLS client through a proxy in this process, given TLS settings: its
/// blob folder's only blob, the warnings, and what the client heard inside TLS.
fn record_starttls(server_addr: &str, cert: &Path, out: &Path) -> (String, Vec<String>, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let heard = runtime.block_on(async {
        let told = Arc::clone(&warnings);
        let proxy = RecordingProxy::bind(
            "127.0.0.1:0".parse().unwrap(),
            server_addr.parse().unwrap(),
            out,
        )
        .await
        .unwrap()
        .tls(TlsOptions::with_ca(cert))
        .unwrap()
        .on_warning(move |w| told.lock().unwrap().push(w.to_owned()));
        let proxy_cert = proxy.tls_certificate().unwrap().to_owned();
        assert_eq!(proxy_cert, out.join(".capture-cert.pem"));
        let addr = proxy.local_addr().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(proxy.run(async {
            let _ = stopped.await;
        }));
        let heard = starttls_client(&addr, &proxy_cert, "localhost").await;
        stop.send(()).unwrap();
        let recorded = running.await.unwrap().unwrap();
        assert_eq!(recorded.connections, 1, "{recorded:?}");
        assert_eq!(recorded.files.len(), 1, "{recorded:?}");
        heard
    });
    let blobs: Vec<_> = std::fs::read_dir(out).unwrap().collect();
    assert_eq!(blobs.len(), 2, "the blob and the proxy's certificate");
    let blob = std::fs::read_to_string(out.join("0001-ping")).unwrap();
    let warnings = warnings.lock().unwrap().clone();
    (blob, warnings, heard)
}

#[test]
fn a_starttls_conversation_is_recorded_inside_tls_and_fuzzes_the_server_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let (_server, server_addr) = starttls_server(&cert, &key);
    let out = dir.path().join("captured");
    let (blob, warnings, heard) = record_starttls(&server_addr, &cert, &out);
    assert_eq!(
        heard, "+OK\n+v\n+BYE\n",
        "answers pass inside TLS both ways"
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    // The wait for the server's yes, the handshake there, then the plaintext as in clear
    // text, with what the server answered inside TLS.
    let (before, after) = blob
        .split_once("#~ tls\n")
        .unwrap_or_else(|| panic!("a TLS mark:\n{blob}"));
    assert_eq!(
        before,
        "#~ stutterfuzz conversation\nPING\n#~ heard +PONG%0A\n#~ wait bytes=6\nSTARTTLS\n\
         #~ heard +GO AHEAD%0A\n#~ wait bytes=16\n",
        "{blob}"
    );
    assert!(
        after.starts_with("SET k v\nGET k\nQUIT\n#~ heard +OK%0A"),
        "{blob}"
    );
    assert!(after.contains("+BYE%0A"), "{blob}");
    // Read back, the blob is the client's plaintext alone (the certificate is skipped).
    let summary = stutterfuzz::Stutter::new(&server_addr)
        .blobs(&out)
        .blob_summary()
        .unwrap();
    assert_eq!(
        summary.to_string(),
        "Loaded 1 blobs. Bytes: 33 min, 33 mean, 33 max"
    );
    let report = common::stutter("127.0.0.1:0")
        .server(tls_fixture("starttls-line-server", &cert, &key))
        .tls(TlsOptions::with_ca(&cert))
        .blobs(&out)
        .cycles(5)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the recorded STARTTLS blob fuzzes the server clean:\n{f}"));
    assert_eq!(report.stats().deliveries, 5, "{report}");
}

#[test]
fn a_client_that_starts_tls_without_tls_settings_is_passed_through_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let (_server, server_addr) = starttls_server(&cert, &key);
    let out = dir.path().join("captured");
    let proxy = common::Proxy::start(&server_addr, &out);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The client's TLS session is the server's own, end to end through the proxy.
    let heard = runtime.block_on(starttls_client(&proxy.addr, &cert, "127.0.0.1"));
    assert_eq!(heard, "+OK\n+v\n+BYE\n");
    let (code, said) = proxy.interrupt();
    assert_eq!(code, Some(0), "{said}");
    let warning = said
        .lines()
        .find(|line| line.contains("connection 1: the client started TLS after byte 14"))
        .unwrap_or_else(|| panic!("a warning:\n{said}"));
    assert!(
        warning.contains("cannot be recorded")
            && warning.contains("--tls-ca FILE or --tls-insecure"),
        "{warning}"
    );
    // The blob keeps the clear-text part.
    let blob = std::fs::read_to_string(out.join("0001-ping")).unwrap();
    assert_eq!(
        blob,
        "#~ stutterfuzz conversation\nPING\n#~ heard +PONG%0A\n#~ wait bytes=6\nSTARTTLS\n\
         #~ heard +GO AHEAD%0A\n#~ wait bytes=16\n"
    );
}

#[test]
fn the_command_line_records_starttls_with_the_certificate_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), false);
    let (_server, server_addr) = starttls_server(&cert, &key);
    let out = dir.path().join("captured");
    // The proxy shows clients the server's own certificate, and checks the server's as
    // localhost.
    let flags = [
        "--tls-ca".as_ref(),
        cert.as_os_str(),
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
        "--tls-server-name".as_ref(),
        "localhost".as_ref(),
    ];
    let proxy = common::Proxy::start_with(&server_addr, &out, &flags);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let heard = runtime.block_on(starttls_client(&proxy.addr, &cert, "localhost"));
    assert_eq!(heard, "+OK\n+v\n+BYE\n");
    let (code, said) = proxy.interrupt();
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("1 connection, 33 bytes, 1 blob written"),
        "{said}"
    );
    let blob = std::fs::read_to_string(out.join("0001-ping")).unwrap();
    assert!(
        blob.contains("#~ wait bytes=16\n#~ tls\nSET k v\nGET k\nQUIT\n#~ heard +OK%0A"),
        "{blob}"
    );
    assert!(!out.join(".capture-cert.pem").exists(), "no throwaway one");
}

#[test]
fn bad_tls_settings_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let base = [
        "capture",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
    ];
    for (flags, expected) in [
        (
            &["--tls-cert", not_pem][..],
            "--tls-server-name, --tls-cert and --tls-key need --tls-ca FILE",
        ),
        (
            &["--tls-insecure", "--tls-cert", not_pem],
            "--tls-cert needs --tls-key",
        ),
        (
            &["--tls-insecure", "--tls-key", not_pem],
            "--tls-key needs --tls-cert",
        ),
        (
            &[
                "--tls-insecure",
                "--tls-cert",
                not_pem,
                "--tls-key",
                not_pem,
            ],
            "holds no certificate",
        ),
        (&["--tls-ca", not_pem], "holds no certificate"),
    ] {
        let output = common::stutterfuzz_cli()
            .args(base)
            .args(["--out", out])
            .args(flags)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {said}");
        assert_eq!(said.lines().count(), 1, "{flags:?}: one line: {said}");
        assert!(said.contains(expected), "{flags:?}: {said}");
    }
}

#[test]
fn a_server_that_cannot_be_reached_is_a_warning_and_a_file_for_out_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    // Nothing listens on a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    runtime.block_on(async {
        let told = Arc::clone(&warnings);
        let proxy = RecordingProxy::bind("127.0.0.1:0".parse().unwrap(), closed, dir.path())
            .await
            .unwrap()
            .on_warning(move |w| told.lock().unwrap().push(w.to_owned()));
        let addr = proxy.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(proxy.run(async {
            let _ = stopped.await;
        }));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut rest).await;
        stop.send(()).unwrap();
        let recorded = running.await.unwrap().unwrap();
        assert_eq!(recorded.files.len(), 0, "{recorded:?}");
    });
    let warnings = warnings.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!(
            "connection 1: the server at {closed} could not be reached ("
        )),
        "{warnings:?}"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = runtime
        .block_on(RecordingProxy::bind(
            "127.0.0.1:0".parse().unwrap(),
            closed,
            &file,
        ))
        .err()
        .expect("a file is no folder for blobs")
        .to_string();
    assert!(err.contains("is a file, not a folder"), "{err}");
}

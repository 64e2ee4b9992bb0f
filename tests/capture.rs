//! `stutterfuzz capture`: a recording proxy between real clients and the server. Bytes pass
//! unchanged both ways; each client connection becomes a blob; Ctrl-C writes the connections
//! still open. With redis-cli in front of Debian's redis-server, the captured blobs then fuzz
//! redis-server clean.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

/// Starts the proxy in front of `upstream`, writing to `out`; returns it with the address
/// it listens on.
fn start_proxy(
    upstream: &str,
    out: &std::path::Path,
) -> (
    common::KillOnDrop,
    String,
    BufReader<std::process::ChildStderr>,
) {
    let mut child: Child = Command::cargo_bin("stutterfuzz")
        .unwrap()
        .args([
            "capture",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream,
            "--out",
        ])
        .arg(out)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("the proxy says where it listens: {line:?}"))
        .to_owned();
    (common::KillOnDrop(child), addr, stderr)
}

/// Stops the proxy with SIGINT, as Ctrl-C would, and returns what it printed then.
fn interrupt(
    proxy: &mut common::KillOnDrop,
    mut stderr: BufReader<std::process::ChildStderr>,
) -> (Option<i32>, String) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(proxy.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    (proxy.0.wait().unwrap().code(), rest)
}

#[test]
fn each_client_connection_becomes_a_blob_and_answers_pass_unchanged() {
    let (_server, server_addr) = common::start_fixture("line-server", "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured");
    let (mut proxy, addr, stderr) = start_proxy(&server_addr, &out);

    let mut first = TcpStream::connect(&addr).unwrap();
    first.write_all(b"SET who alice\nGET w").unwrap();
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

    let (code, said) = interrupt(&mut proxy, stderr);
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
    assert_eq!(
        blobs,
        [
            ("0001-set".to_owned(), b"SET who alice\nGET who\n".to_vec()),
            ("0002-ping".to_owned(), b"PING\n".to_vec()),
        ]
    );
}

#[test]
fn redis_cli_through_the_proxy_gives_blobs_that_fuzz_redis_server_clean() {
    common::require("redis-cli", "redis-tools");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let redis = common::KillOnDrop(
        common::redis_server(&port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let upstream = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&upstream).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("redis");
    let (mut proxy, addr, stderr) = start_proxy(&upstream, &out);
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
    let (code, said) = interrupt(&mut proxy, stderr);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("4 connections"), "{said}");
    drop(redis);

    common::stutter("127.0.0.1:0")
        .server(common::redis_server("{port}"))
        .blobs(&out)
        .expect_same_response()
        .cycles(40)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("captured redis-cli traffic fuzzes redis-server clean:\n{f}"));
}

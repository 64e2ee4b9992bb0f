//! `stutterfuzz capture`: a recording proxy between real clients and the server. Bytes pass
//! unchanged both ways; each client connection becomes a blob; Ctrl-C writes the connections
//! still open. With redis-cli in front of Debian's redis-server, the captured blobs then fuzz
//! redis-server clean.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use stutterfuzz::AnswerOracle;

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

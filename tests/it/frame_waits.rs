//! Conversations of a framed protocol wait for the server's frames, not its byte counts: an
//! HTTP/2 conversation that waits for the ack of its SETTINGS and for its answer's HEADERS
//! fuzzes a correct HTTP/2 server clean, however the server merges its frames; a frame that
//! never comes holds each delivery only until the wait's limit, and the stats line warns. A client recorded through
//! the proxy gets such waits, and a name that says its first request; a WebSocket client's
//! turn after its upgrade request waits for the end of the `101` head.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use stutterfuzz::{AnswerOracle, Timeouts};

use crate::common::{self, fixture_command};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame: its 9-byte header, then `payload`.
pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A conversation file: the preface and an empty SETTINGS, a wait for the server's ack,
/// `GET /` on stream 1 (HEADERS with END_STREAM and END_HEADERS), then `last` as the final
/// wait. Each wait is glued (`#~+`): the line end before it is the file's, not the blob's.
fn conversation(dir: &Path, name: &str, last: &str) {
    let mut file = b"#~ stutterfuzz conversation\n".to_vec();
    file.extend_from_slice(PREFACE);
    file.extend(frame(4, 0, 0, &[]));
    file.extend_from_slice(b"\n#~+ wait frame=SETTINGS\n");
    file.extend(frame(1, 5, 1, b"\x82\x86\x84"));
    file.extend_from_slice(format!("\n#~+ {last}\n").as_bytes());
    std::fs::write(dir.join(name), file).unwrap();
}

#[test]
fn an_http2_conversation_with_frame_waits_fuzzes_a_correct_server_clean() {
    let dir = tempfile::tempdir().unwrap();
    conversation(dir.path(), "get", "wait frame=HEADERS");
    conversation(dir.path(), "get-1", "wait frame=HEADERS stream=1");
    // A wait that did not end would hold its delivery 30 s: 60 deliveries, 10 at a time,
    // could not all be made within the run's minute.
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("h2-frame-server", None))
        .blobs(dir.path())
        .connections(10)
        .timeouts(Timeouts::default().connect(Duration::from_secs(30)))
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("no false alarm:\n{f}"));
    assert_eq!(report.stats().deliveries, 60, "{report}");
}

#[test]
fn a_frame_that_never_comes_holds_each_delivery_until_the_limit_only() {
    let dir = tempfile::tempdir().unwrap();
    // The request is on stream 1: no answer comes on stream 3.
    conversation(dir.path(), "get", "wait frame=HEADERS stream=3");
    let limit = Duration::from_millis(500);
    let started = Instant::now();
    let report = common::stutter("127.0.0.1:0")
        .server(fixture_command("h2-frame-server", None))
        .blobs(dir.path())
        .connections(1)
        .timeouts(Timeouts::default().connect(limit))
        .oracle(AnswerOracle::none())
        .cycles(3)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("a wait that times out is no finding:\n{f}"));
    assert_eq!(report.stats().deliveries, 3, "{report}");
    // Each delivery waited the limit out, then went on; the stats line says so.
    assert!(started.elapsed() >= limit * 3, "{:?}", started.elapsed());
    assert_eq!(report.stats().waits_timed_out, 3, "{report}");
    let line = report.stats().to_string();
    assert!(
        line.contains("(warning: waits_timed_out=3: a conversation's wait did not end within the connect timeout"),
        "{line}"
    );
}

#[test]
fn a_wait_the_blob_sent_whole_never_gets_is_a_one_line_setup_error() {
    // With the answers compared, each blob is first sent whole: a wait that never ends
    // there would hold every delivery and test nothing after it.
    let dir = tempfile::tempdir().unwrap();
    conversation(dir.path(), "get", "wait frame=HEADERS stream=3");
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("h2-frame-server", None))
        .blobs(dir.path())
        .timeouts(Timeouts::default().connect(Duration::from_millis(500)))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the wait never ends");
    let text = failure
        .setup_error()
        .unwrap_or_else(|| panic!("a setup error: {failure}"))
        .to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(
        text.contains("get: sent whole, the server never sent what `#~ wait frame=HEADERS stream=3` (before byte ")
            && text.contains("within 500ms")
            && text.contains("Check the wait"),
        "{text}"
    );
}

/// Reads from `stream` until what it read holds a frame of `kind` with `flags`.
fn read_until_frame(stream: &mut TcpStream, kind: u8, flags: u8) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let mut at = 0;
        while let Some(header) = got.get(at..at + 9) {
            if header[3] == kind && header[4] & flags == flags {
                return;
            }
            at += 9
                + (usize::from(header[0]) << 16
                    | usize::from(header[1]) << 8
                    | usize::from(header[2]));
        }
        let n = stream.read(&mut buf).expect("the server answers");
        assert!(n > 0, "the connection closed before frame {kind}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn an_http2_client_recorded_by_the_proxy_is_named_by_its_request_and_waits_for_frames() {
    let (_server, server_addr) = common::start_fixture("h2-frame-server", "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured");
    let proxy = common::Proxy::start(&server_addr, &out);
    // A client that waits for the ack of its SETTINGS, and for each answer.
    let mut client = TcpStream::connect(&proxy.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .write_all(&[PREFACE, &frame(4, 0, 0, &[])].concat())
        .unwrap();
    read_until_frame(&mut client, 4, 1);
    // GET /index.html (the path a literal added to the table), then GET /style.css.
    client
        .write_all(&frame(1, 5, 1, b"\x82\x86\x44\x0b/index.html"))
        .unwrap();
    read_until_frame(&mut client, 1, 0);
    client
        .write_all(&frame(1, 5, 3, b"\x82\x86\x44\x0a/style.css"))
        .unwrap();
    read_until_frame(&mut client, 1, 0);
    drop(client);
    let recorded = out.join("0001-h2-get-index-html");
    common::wait_until(
        "the proxy writing the conversation",
        Duration::from_secs(5),
        || recorded.exists(),
    );
    let (code, rest) = proxy.interrupt();
    assert_eq!(code, Some(0), "{rest}");
    let file = std::fs::read(&recorded).unwrap();
    let waits: Vec<String> = file
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            line.strip_prefix(b"#~ wait ")
                .or_else(|| line.strip_prefix(b"#~+ wait "))
        })
        .map(|wait| String::from_utf8_lossy(wait).into_owned())
        .collect();
    assert_eq!(
        waits,
        ["frame=SETTINGS", "frame=HEADERS"],
        "{}",
        file.escape_ascii()
    );

    common::stutter("127.0.0.1:0")
        .server(fixture_command("h2-frame-server", None))
        .blobs(&out)
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the recorded conversation fuzzes clean:\n{f}"));
}

#[test]
fn a_websocket_client_recorded_by_the_proxy_waits_for_the_end_of_the_101_head() {
    let (_server, server_addr) = common::start_fixture("ws-frame-server-buggy", "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured");
    let proxy = common::Proxy::start(&server_addr, &out);
    let mut client = TcpStream::connect(&proxy.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 1024];
    while !heard.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).expect("the server answers");
        assert!(n > 0, "closed before the 101 head ended");
        heard.extend_from_slice(&buf[..n]);
    }
    assert!(
        heard.starts_with(b"HTTP/1.1 101"),
        "{}",
        heard.escape_ascii()
    );
    // A short text frame (its echo is 7 bytes), then the client closes.
    let text = stutterfuzz_fixtures::websocket::client_text(b"hello", [1, 2, 3, 4]);
    client.write_all(&text).unwrap();
    client.read_exact(&mut buf[..7]).expect("the echo");
    drop(client);
    let recorded = out.join("0001-get-chat");
    common::wait_until(
        "the proxy writing the conversation",
        Duration::from_secs(5),
        || recorded.exists(),
    );
    let (code, rest) = proxy.interrupt();
    assert_eq!(code, Some(0), "{rest}");
    let file = std::fs::read(&recorded).unwrap();
    let waits: Vec<&[u8]> = file
        .split(|&b| b == b'\n')
        .filter(|line| line.starts_with(b"#~ wait ") || line.starts_with(b"#~+ wait "))
        .collect();
    assert_eq!(
        waits,
        [b"#~ wait pattern=%0D%0A%0D%0A".as_slice()],
        "{}",
        file.escape_ascii()
    );

    common::stutter("127.0.0.1:0")
        .server(fixture_command("ws-frame-server-buggy", None))
        .blobs(&out)
        .oracle(AnswerOracle::same().within(Duration::from_secs(2)))
        .cycles(30)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the recorded conversation fuzzes clean:\n{f}"));
}

//! The client direction: clients that take one read of an answer as the whole answer are
//! found, with the cut that shows it; their correct twins run clean; every cut reaches the
//! client as a read of its own.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stutterfuzz::{ClientCase, ClientFailure, ClientFindingKind, StutterClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ANSWERS: &str = "fixtures/client/answers";

/// Sends `GET greeting` and reads the bulk reply `$12\r\nhello, world\r\n`.
async fn get_greeting(addr: SocketAddr, buggy: bool) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET greeting\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the reply was whole".into());
        }
        reply.extend_from_slice(&buf[..n]);
        // BUG: takes the first read as the whole header line and body.
        if buggy || complete_bulk(&reply) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&reply).into_owned();
    let (header, body) = text.split_once("\r\n").ok_or("no header line")?;
    let len: usize = header[1..]
        .parse()
        .map_err(|_| format!("bad length {header:?}"))?;
    body.get(..len)
        .map(str::to_owned)
        .ok_or_else(|| format!("short body {body:?}"))
}

fn complete_bulk(reply: &[u8]) -> bool {
    let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    let len: usize = String::from_utf8_lossy(&reply[1..end]).parse().unwrap_or(0);
    reply.len() >= end + 2 + len + 2
}

#[test]
fn an_in_process_client_that_parses_after_one_read_is_found_and_narrowed() {
    let failure = StutterClient::function(|addr| get_greeting(addr, true))
        .answers(ANSWERS)
        .seed(7)
        .cycles(400)
        .try_run_for(Duration::from_secs(30))
        .unwrap_err();
    let ClientFailure::Finding(finding) = failure else {
        panic!("expected a finding, got {failure}");
    };
    assert!(
        matches!(finding.kind(), ClientFindingKind::OutputDiffers { .. }),
        "{finding}"
    );
    // The minimal cut is one cut inside the first 19-byte answer: 2 chunks.
    let minimal = finding.minimal();
    assert_eq!(minimal.source(), "get-ping.resp", "{finding}");
    let chunks = minimal.answers().chunks();
    assert_eq!(chunks.len(), 2, "{finding}");
    assert!(chunks[0] < 19, "{finding}");
    let text = finding.to_string();
    assert!(
        text.contains("STUTTERFUZZ_REPLAY='c1:get-ping.resp:"),
        "{text}"
    );
    // The case replays: the same failure, with no randomness.
    let replayed = StutterClient::function(|addr| get_greeting(addr, true))
        .answers(ANSWERS)
        .replay(minimal.clone())
        .try_run_for(Duration::from_secs(30))
        .unwrap_err();
    assert_eq!(replayed.finding().unwrap().minimal(), minimal);
}

#[test]
fn its_correct_twin_runs_clean() {
    let report = StutterClient::function(|addr| get_greeting(addr, false))
        .answers(ANSWERS)
        .cycles(200)
        .run_for(Duration::from_secs(30));
    assert_eq!(report.runs(), 200);
    assert!(report.boundaries() > 200, "{report}");
    assert_eq!(report.unconfirmed(), 0, "{report}");
}

#[test]
fn every_cut_reaches_the_client_as_a_read_of_its_own() {
    let reads: Arc<Mutex<Vec<Vec<usize>>>> = Arc::default();
    let log = reads.clone();
    let case: ClientCase = "c1:get-ping.resp:1,1,3,2,5,7".parse().unwrap();
    let client = StutterClient::function(move |addr| {
        let log = log.clone();
        async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"GET greeting\r\n").await.unwrap();
            let mut sizes = Vec::new();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.len() < 19 {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0);
                sizes.push(n);
                got.extend_from_slice(&buf[..n]);
            }
            log.lock().unwrap().push(sizes);
            String::from_utf8(got).unwrap()
        }
    })
    .answers(ANSWERS);
    let report = client.clone().replay(case).run_for(Duration::from_secs(30));
    assert_eq!(report.fidelity(), 1.0, "{report}");
    // Two whole runs (one read each), then the case: each chunk its own read.
    let reads = reads.lock().unwrap().clone();
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert_eq!(reads[0], [19]);
    assert_eq!(reads[2], [1, 1, 3, 2, 5, 7]);
}

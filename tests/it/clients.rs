//! The client direction: clients that take one read of an answer as the whole answer are
//! found, with the cut that shows it; their correct twins run clean; every cut reaches the
//! client as a read of its own.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stutterfuzz::Regressions;

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
        .regressions(Regressions::Off)
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
    // The answers as the client received them, the one cut marked at its byte.
    let view = text
        .lines()
        .find_map(|line| line.trim().strip_suffix("   (each | is a cut)"))
        .unwrap_or_else(|| panic!("no cut view:\n{text}"));
    assert_eq!(view.matches('|').count(), chunks.len() - 1, "{text}");
    assert!(view.starts_with("\"$"), "the answer as received: {text}");
    // The two outputs around their first difference, the byte pointed at.
    assert!(text.contains("from the first byte that differs:"), "{text}");
    assert!(
        text.contains("  whole: \"") && text.contains("^ byte "),
        "{text}"
    );
    // The case replays: the same failure, with no randomness.
    let replayed = StutterClient::function(|addr| get_greeting(addr, true))
        .answers(ANSWERS)
        .regressions(Regressions::Off)
        .replay(minimal.clone())
        .try_run_for(Duration::from_secs(30))
        .unwrap_err();
    assert_eq!(replayed.finding().unwrap().minimal(), minimal);
    // A replay says what it did, not that it confirmed anything.
    let text = replayed.to_string();
    assert!(text.contains("replayed once: it failed"), "{text}");
    assert!(!text.contains("confirmed alone"), "{text}");
}

#[test]
fn its_correct_twin_runs_clean() {
    let report = StutterClient::function(|addr| get_greeting(addr, false))
        .answers(ANSWERS)
        .regressions(Regressions::Off)
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

fn fixture_client(interpreter: &str, script: &str, buggy: bool) -> StutterClient {
    let mut command = Command::new(interpreter);
    command.args([&format!("fixtures/client/bin/{script}"), "{host}", "{port}"]);
    if buggy {
        command.arg("--buggy");
    }
    StutterClient::command(command)
        .answers(ANSWERS)
        .regressions(Regressions::Off)
        .seed(11)
        .connections(2)
}

fn finding_of(client: StutterClient) -> stutterfuzz::ClientFinding {
    match client.try_run_for(Duration::from_secs(60)) {
        Err(ClientFailure::Finding(finding)) => *finding,
        other => panic!("expected a finding, got {other:?}"),
    }
}

#[test]
fn a_python_client_that_needs_the_header_block_in_one_read_is_found() {
    let finding = finding_of(fixture_client("python3", "http_get.py", true).cycles(150));
    assert!(
        matches!(finding.kind(), ClientFindingKind::Failed { how } if how == "exited with status 1"),
        "{finding}"
    );
    assert_eq!(finding.minimal().source(), "get-index.http");
    // The cut falls inside the header block (which ends at byte 78).
    assert!(finding.minimal().answers().chunks()[0] < 78, "{finding}");
    assert!(finding.to_string().contains("Traceback"), "{finding}");
}

#[test]
fn a_perl_client_that_takes_a_length_header_as_whole_is_found() {
    let finding = finding_of(fixture_client("perl", "frame_client.pl", true).cycles(150));
    assert_eq!(finding.minimal().source(), "ping.frame");
    // A cut inside the 4-byte length header.
    assert!(finding.minimal().answers().chunks()[0] < 4, "{finding}");
}

#[test]
fn their_correct_twins_run_clean() {
    for (interpreter, script) in [("python3", "http_get.py"), ("perl", "frame_client.pl")] {
        let report = fixture_client(interpreter, script, false)
            .cycles(60)
            .run_for(Duration::from_secs(60));
        assert_eq!(report.runs(), 60, "{script}: {report}");
        assert_eq!(report.unconfirmed(), 0, "{script}: {report}");
        assert!(report.fidelity() > 0.99, "{script}: {report}");
    }
}

#[test]
fn redis_cli_against_redis_server_through_the_relay_runs_clean() {
    let mut client = Command::new("redis-cli");
    client.args([
        "-h",
        "{host}",
        "-p",
        "{port}",
        "EVAL",
        "return {1,2,'three',{'x','yz'}}",
        "0",
    ]);
    let mut server = Command::new("redis-server");
    server.args(["--port", "{port}", "--save", "", "--appendonly", "no"]);
    let report = StutterClient::command(client)
        .server(server)
        .cycles(300)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.runs(), 300, "{report}");
    assert!(report.boundaries() > 300, "{report}");
    assert_eq!(report.unconfirmed(), 0, "{report}");
    assert!(report.fidelity() > 0.99, "{report}");
}

/// A server in this process that answers every `GET greeting` line with the bulk reply.
fn greeting_server() -> SocketAddr {
    greeting_server_reading(false)
}

/// The same; `buggy`, it takes each read for one whole request line.
fn greeting_server_reading(buggy: bool) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                use std::io::{BufRead, Write};
                if buggy {
                    use std::io::Read;
                    let mut buf = [0u8; 1024];
                    // BUG: one read is taken for one whole request line.
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        let reply: &[u8] = if buf[..n] == *b"GET greeting\r\n" {
                            b"$12\r\nhello, world\r\n"
                        } else {
                            b"-ERR unknown command\r\n"
                        };
                        let _ = stream.write_all(reply);
                    }
                    return;
                }
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let _ = stream.write_all(b"$12\r\nhello, world\r\n");
                    line.clear();
                }
            });
        }
    });
    addr
}

#[test]
fn answers_relayed_from_a_running_server_are_cut_too() {
    let upstream = greeting_server().to_string();
    let finding = StutterClient::function(|addr| get_greeting(addr, true))
        .upstream(&upstream)
        .regressions(Regressions::Off)
        .seed(3)
        .cycles(300)
        .try_run_for(Duration::from_secs(30))
        .unwrap_err();
    let finding = finding.finding().expect("a finding");
    assert_eq!(finding.minimal().source(), "upstream");
    assert_eq!(finding.minimal().answers().len(), 2, "{finding}");
    let report = StutterClient::function(|addr| get_greeting(addr, false))
        .upstream(&upstream)
        .regressions(Regressions::Off)
        .cycles(100)
        .run_for(Duration::from_secs(30));
    assert_eq!(report.unconfirmed(), 0, "{report}");
    // Tries side by side share the one server: said once, in the report and the finding.
    for text in [report.to_string(), finding.to_string()] {
        assert_eq!(
            text.matches("tries of the client run at once against one server and share its state")
                .count(),
            1,
            "{text}"
        );
    }
}

#[test]
fn a_client_that_cannot_pass_with_whole_answers_is_a_setup_error_that_says_why() {
    let setup = |client: StutterClient| match client.try_run_for(Duration::from_secs(30)) {
        Err(ClientFailure::Setup(e)) => e.to_string(),
        other => panic!("expected a setup error, got {other:?}"),
    };
    // It never connects: the address is not in its command.
    let mut nowhere = Command::new("python3");
    nowhere.args(["-c", "print('hi')"]);
    let message = setup(StutterClient::command(nowhere).answers(ANSWERS));
    assert!(message.contains("without connecting"), "{message}");
    // It fails whatever the answers.
    let failing = StutterClient::function(|_addr| async { panic!("always") }).answers(ANSWERS);
    let message = setup(failing);
    assert!(message.contains("even with the answers whole"), "{message}");
    // No answers given, or none in the directory.
    let message = setup(StutterClient::function(|addr| get_greeting(addr, false)));
    assert!(message.contains("give .upstream(ADDR)"), "{message}");
    let message =
        setup(StutterClient::function(|addr| get_greeting(addr, false)).answers("fixtures/blobs"));
    assert!(
        message.contains("is not a recorded conversation"),
        "{message}"
    );
}

#[test]
fn the_command_line_finds_replays_and_refuses_bad_input_in_one_line() {
    let stutterfuzz = || assert_cmd::Command::cargo_bin("stutterfuzz").unwrap();
    let client = "perl fixtures/client/bin/frame_client.pl {host} {port} --buggy";
    let found = stutterfuzz()
        .args(["client", "--client", client, "--answers", ANSWERS])
        .args(["--seed", "5", "--cycles", "200", "--duration", "60s"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&found.get_output().stdout).into_owned();
    let case = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("case:"))
        .expect("a case line")
        .trim()
        .to_owned();
    assert!(case.starts_with("c1:ping.frame:"), "{stdout}");
    let failures = tempfile::tempdir().unwrap();
    stutterfuzz()
        .args([
            "client",
            "--client",
            client,
            "--answers",
            ANSWERS,
            "--replay",
            &case,
        ])
        .arg("--failures-dir")
        .arg(failures.path())
        .assert()
        .code(1);
    let saved: Vec<_> = std::fs::read_dir(failures.path()).unwrap().collect();
    assert_eq!(saved.len(), 1);
    let text = std::fs::read_to_string(saved[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains(&format!("case {case}\n")), "{text}");
    let correct = "perl fixtures/client/bin/frame_client.pl {host} {port}";
    stutterfuzz()
        .args([
            "client",
            "--client",
            correct,
            "--answers",
            ANSWERS,
            "--replay",
            &case,
        ])
        .assert()
        .code(0);
    for (args, expected) in [
        (vec!["--client", correct], "no answers for the client"),
        (
            vec!["--client", correct, "--answers", "no/such/dir"],
            "does not exist",
        ),
        (
            vec!["--client", "no-such-client {port}", "--answers", ANSWERS],
            "cannot start client",
        ),
    ] {
        let out = stutterfuzz().arg("client").args(&args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("stutterfuzz client: error: "),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_finding_is_recorded_and_fails_first_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regressions.txt");
    let run = |buggy: bool, seed: u64| {
        StutterClient::function(move |addr| get_greeting(addr, buggy))
            .answers(ANSWERS)
            .regressions(Regressions::at(&file))
            .seed(seed)
            .cycles(300)
            .try_run_for(Duration::from_secs(30))
    };
    let first = run(true, 1).unwrap_err();
    let first = first.finding().expect("a finding");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&first.minimal().to_string()), "{text}");
    assert!(first.to_string().contains("recorded in"), "{first}");
    // Another seed: the recorded case fails first, before any fuzzing.
    let again = run(true, 2).unwrap_err();
    let again = again.finding().expect("a finding");
    assert_eq!(again.minimal(), first.minimal());
    assert!(again.to_string().contains("failing again"), "{again}");
    // Fixed: the recorded case passes, and the run goes on clean.
    let fixed = run(false, 2).unwrap();
    assert_eq!(fixed.runs(), 300, "{fixed}");
    assert_eq!(fixed.unconfirmed(), 0, "{fixed}");
}

#[test]
fn a_client_that_waits_for_one_read_of_the_whole_size_hangs_and_is_found() {
    let finding = StutterClient::function(|addr| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET greeting\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        // BUG: waits for a read that returns the whole 19-byte reply at once.
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 19 || n == 0 {
                return n;
            }
        }
    })
    .answers(ANSWERS)
    .regressions(Regressions::Off)
    .timeouts(stutterfuzz::Timeouts::default().client(Duration::from_millis(300)))
    .seed(4)
    .cycles(100)
    .try_run_for(Duration::from_secs(60))
    .unwrap_err();
    let finding = finding.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), ClientFindingKind::Hung { .. }),
        "{finding}"
    );
    assert_eq!(finding.minimal().answers().len(), 2, "{finding}");
}

#[test]
fn output_that_varies_by_itself_is_no_finding() {
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let report = StutterClient::function(move |addr| {
        let runs = runs.clone();
        async move {
            let n = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reply = get_greeting(addr, false).await;
            format!("run {n}: {reply:?}")
        }
    })
    .answers(ANSWERS)
    .regressions(Regressions::Off)
    .cycles(100)
    .run_for(Duration::from_secs(30));
    assert_eq!(report.runs(), 100, "{report}");
    assert_eq!(report.unconfirmed(), 0, "{report}");
}

#[tokio::test]
async fn a_client_test_runs_on_the_tests_own_runtime() {
    let failure = StutterClient::function(|addr| get_greeting(addr, true))
        .answers(ANSWERS)
        .regressions(Regressions::Off)
        .seed(9)
        .cycles(200)
        .try_run_for_async(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(failure.finding().is_some(), "{failure}");
    // The panicking twin, as a test calls it, passes a correct client.
    let report = StutterClient::function(|addr| get_greeting(addr, false))
        .answers(ANSWERS)
        .regressions(Regressions::Off)
        .cycles(20)
        .run_for_async(Duration::from_secs(30))
        .await;
    assert_eq!(report.runs(), 20, "{report}");
    // The blocking entry point says what to call instead on this runtime.
    let refused = StutterClient::function(|addr| get_greeting(addr, false))
        .answers(ANSWERS)
        .try_run_for(Duration::from_secs(1))
        .unwrap_err();
    assert!(
        refused.to_string().contains("try_run_for_async"),
        "{refused}"
    );
}

#[test]
fn the_clients_requests_can_be_cut_on_their_way_to_the_server_too() {
    let buggy_server = greeting_server_reading(true).to_string();
    let client = |upstream: &str| {
        StutterClient::function(|addr| get_greeting(addr, false))
            .upstream(upstream)
            .regressions(Regressions::Off)
            .seed(2)
            .cycles(200)
    };
    // Answers cut alone: the correct client and the server that reads one line per read
    // agree.
    let report = client(&buggy_server).run_for(Duration::from_secs(30));
    assert_eq!(report.unconfirmed(), 0, "{report}");
    // Requests cut too: the server answers a cut request line with an error.
    let failure = client(&buggy_server)
        .split_requests(true)
        .try_run_for(Duration::from_secs(30))
        .unwrap_err();
    let finding = failure.finding().expect("a finding");
    let requests = finding.minimal().requests().expect("the requests were cut");
    assert_eq!(requests.len(), 2, "{finding}");
    assert!(
        finding.minimal().to_string().contains(";requests="),
        "{finding}"
    );
    // A server that reads whole lines passes with both directions cut.
    let report = client(&greeting_server().to_string())
        .split_requests(true)
        .run_for(Duration::from_secs(30));
    assert_eq!(report.unconfirmed(), 0, "{report}");
    // Recorded answers have no server to cut requests for.
    let refused = StutterClient::function(|addr| get_greeting(addr, false))
        .answers(ANSWERS)
        .split_requests(true)
        .try_run_for(Duration::from_secs(5))
        .unwrap_err();
    assert!(refused.to_string().contains("split_requests"), "{refused}");
}

#[test]
fn a_panic_line_on_the_clients_stderr_is_found_though_it_exits_0() {
    // Reads the 19-byte reply; a short first read makes it complain on stderr, then carry on.
    let script = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'GET greeting\r\n')
got = s.recv(4096)
if len(got) < 19:
    print("thread 'main' panicked at src/reply.rs:3:5", file=sys.stderr)
while len(got) < 19:
    got += s.recv(4096)
print(got)
"#;
    let mut command = Command::new("python3");
    command.args(["-c", script, "{host}", "{port}"]);
    let client = StutterClient::command(command)
        .answers(ANSWERS)
        .regressions(Regressions::Off)
        .seed(1)
        .cycles(100);
    // Narrowing off: the case as it failed.
    let finding = finding_of(client.clone().shrinking(stutterfuzz::Shrinking::off()));
    assert!(
        matches!(finding.kind(), ClientFindingKind::Alarm { line } if line.contains("panicked at")),
        "{finding}"
    );
    assert_eq!(finding.minimal(), finding.case(), "{finding}");
    // The output rules are the server's: the same case with that line ignored passes.
    let report = client
        .output(stutterfuzz::OutputRules::default().ignore("src/reply.rs"))
        .replay(finding.case().clone())
        .run_for(Duration::from_secs(30));
    assert!(report.to_string().contains("the client passed"), "{report}");
}

#[test]
fn a_server_that_dies_during_the_run_is_named_not_blamed_on_the_client() {
    // Serves three connections, then exits with status 3.
    let script = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
for _ in range(3):
    c, _ = s.accept()
    if c.recv(1024):
        c.sendall(b"$12\r\nhello, world\r\n")
    c.close()
sys.exit(3)
"#;
    let mut server = Command::new("python3");
    server.args(["-c", script, "{port}"]);
    let failure = StutterClient::function(|addr| get_greeting(addr, false))
        .server(server)
        .regressions(Regressions::Off)
        .cycles(50)
        .try_run_for(Duration::from_secs(30))
        .unwrap_err();
    let ClientFailure::Setup(error) = failure else {
        panic!("expected a setup error, got {failure}");
    };
    let text = error.to_string();
    assert!(
        text.contains("exited with status 3 during the client run"),
        "{text}"
    );
}

#[test]
fn an_in_process_client_that_panics_on_a_short_read_is_a_failure_naming_the_panic() {
    let failure = StutterClient::function(|addr| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET greeting\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        // BUG: one read is taken for the whole 19-byte reply.
        assert_eq!(n, 19, "a short reply");
        n
    })
    .answers(ANSWERS)
    .regressions(Regressions::Off)
    .seed(5)
    .cycles(200)
    .try_run_for(Duration::from_secs(30))
    .unwrap_err();
    let finding = failure.finding().expect("a finding");
    assert!(
        matches!(finding.kind(), ClientFindingKind::Failed { how } if how.contains("panicked") && how.contains("a short reply")),
        "{finding}"
    );
}

#[test]
fn a_client_that_fails_once_is_listed_unconfirmed_with_what_failed() {
    // A correct client that gives a wrong output once, whatever the cut: no finding.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let report = StutterClient::function(|addr| async move {
        let reply = get_greeting(addr, false).await?;
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, String>(if call == 8 {
            "glitch".to_owned()
        } else {
            reply
        })
    })
    .answers(ANSWERS)
    .regressions(Regressions::Off)
    .connections(1)
    .cycles(20)
    .run_for(Duration::from_secs(30));
    assert_eq!(report.unconfirmed(), 1, "{report}");
    let text = report.to_string();
    assert!(text.contains("output differs"), "{text}");
    assert!(text.contains("; failed 0 of 1 alone)"), "{text}");
}

//! A run that keeps going after each finding finds every distinct bug of a server: here a
//! crash and a wrong answer, each reported once with how often it was met, the server
//! started anew after each finding and none left behind.

use crate::common;

use std::time::Duration;

use common::{assert_all_gone, blob_dir, fixture, fixture_command, read_pids};
use stutterfuzz::Shrinking;

/// The signatures of a run's distinct findings, in order.
fn signatures<F: stutterfuzz::Listed>(all: &stutterfuzz::Findings<F>) -> Vec<&str> {
    let mut signatures: Vec<&str> = all
        .distinct()
        .iter()
        .map(|d| d.finding().signature())
        .collect();
    signatures.sort_unstable();
    signatures
}

#[test]
fn a_run_that_keeps_going_reports_a_crash_and_a_wrong_answer_as_two_findings() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    // The progress hook is shown the whole run so far, not the part it is in.
    let most_found = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen_by_hook = most_found.clone();
    let progress =
        stutterfuzz::RunControl::default().progress(Duration::from_millis(100), move |stats| {
            seen_by_hook.fetch_max(
                stats.findings_distinct,
                std::sync::atomic::Ordering::Relaxed,
            );
        });
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("two-bugs-server", Some(&pid_file)))
        .blobs(blob_dir())
        .keep_going(true)
        .control(progress)
        .shrinking(Shrinking::default().time(Duration::from_secs(3)))
        .try_run_for(Duration::from_secs(20))
        .expect_err("two bugs are found");
    let all = failure
        .findings()
        .unwrap_or_else(|| panic!("the run kept going:\n{failure}"));
    let signatures = signatures(all);
    assert_eq!(signatures.len(), 2, "{signatures:?}\n{failure}");
    assert!(
        signatures
            .iter()
            .any(|s| s.starts_with("was killed by SIGABRT")),
        "{signatures:?}"
    );
    assert!(
        signatures.contains(&"answer differs in ECHO ..."),
        "{signatures:?}"
    );
    // Met again and again, each is one finding, counted.
    let seen: u64 = all.distinct().iter().map(|d| d.seen()).sum();
    assert!(seen >= 2, "{seen}");
    // A fresh server after each finding (and after each part a finding narrowing disowned).
    let stats = all.report().stats();
    assert!(stats.restarts >= seen - 1, "{stats}");
    assert_eq!(
        (stats.findings_distinct, stats.findings_met),
        (2, seen),
        "{stats}"
    );
    assert!(
        most_found.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the progress hook saw the findings so far"
    );
    // The whole run's report does not say it found nothing.
    let whole = all.report().to_string();
    assert!(
        whole.starts_with("stutterfuzz: 2 distinct finding(s), each listed apart;"),
        "{whole}"
    );
    let text = failure.to_string();
    assert!(text.contains("stutterfuzz found 2 distinct bugs"), "{text}");
    assert!(text.contains("restarts="), "{text}");
    assert_all_gone(&read_pids(&pid_file));
}

#[test]
fn on_the_command_line_each_distinct_finding_is_saved_as_it_is_found_and_the_exit_is_1() {
    let dir = tempfile::tempdir().unwrap();
    let failures = dir.path().join("failures");
    let server = format!("{} --listen {{addr}}", fixture("two-bugs-server").display());
    let mut run = common::stutterfuzz_cli()
        .args(["--host", "127.0.0.1", "--port", "0", "--duration", "15s"])
        .args(["--keep-going", "--server", &server])
        .arg("--blob-dir")
        .arg(blob_dir())
        .arg("--failures-dir")
        .arg(&failures)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first finding is on disk while the run goes on: a run killed later loses none.
    let saved_early = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_dir(&failures).is_ok_and(|mut files| files.next().is_some())
    });
    let still_running = run.try_wait().unwrap().is_none();
    let out = run.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(saved_early && still_running, "saved as found:\n{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("stutterfuzz found 2 distinct bugs"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("== a new finding (").count(), 2, "{stdout}");
    let files = std::fs::read_dir(&failures).unwrap().count();
    assert_eq!(files, 2, "one failure file per distinct finding:\n{stdout}");
}

#[test]
fn a_known_finding_is_counted_not_reported_and_the_run_stops_at_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known.txt");
    // As a failure file's header line shows it.
    std::fs::write(&known, "# signature: was killed by SIGABRT\n").unwrap();
    let failure = common::stutter("127.0.0.1:0")
        .server(fixture_command("two-bugs-server", None))
        .blobs(blob_dir())
        .keep_going(stutterfuzz::KeepGoing::past_known(&known))
        .shrinking(Shrinking::default().time(Duration::from_secs(3)))
        .try_run_for(Duration::from_secs(30))
        .expect_err("the other bug is found");
    assert!(failure.findings().is_none(), "one finding: {failure}");
    let finding = failure.finding().expect("a finding");
    assert_eq!(
        finding.signature(),
        "answer differs in ECHO ...",
        "{finding}"
    );
}

#[test]
fn three_shards_failure_folders_merge_into_the_two_distinct_findings() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!("{} --listen {{addr}}", fixture("two-bugs-server").display());
    let shards: Vec<_> = (1..=3)
        .map(|k| {
            common::stutterfuzz_cli()
                .args(["--host", "127.0.0.1", "--port", "0", "--duration", "10s"])
                .args(["--keep-going", "--seed", "7", "--shard", &format!("{k}/3")])
                .args(["--server", &server, "--quiet"])
                .arg("--blob-dir")
                .arg(blob_dir())
                .arg("--failures-dir")
                .arg(dir.path().join(format!("shard-{k}")))
                .env_remove("STUTTERFUZZ_SHARD")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut shard in shards {
        assert_eq!(
            shard.wait().unwrap().code(),
            Some(1),
            "each shard finds bugs"
        );
    }
    let out = dir.path().join("merged");
    let merged = common::stutterfuzz_cli()
        .arg("merge")
        .args((1..=3).map(|k| dir.path().join(format!("shard-{k}"))))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&merged.stdout);
    assert_eq!(merged.status.code(), Some(0), "{table}");
    assert!(table.starts_with("2 distinct findings in "), "{table}");
    assert!(table.contains("answer differs in ECHO ..."), "{table}");
    assert!(table.contains("was killed by SIGABRT"), "{table}");
    // One failure file per distinct finding, and their signatures for --known.
    let kept = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(kept, 2 + 1, "{table}");
    let known = std::fs::read_to_string(out.join("known-findings.txt")).unwrap();
    let signatures: Vec<&str> = known
        .lines()
        .filter_map(|line| line.strip_prefix("# signature: "))
        .collect();
    assert_eq!(signatures.len(), 2, "{known}");
    assert!(
        signatures.contains(&"answer differs in ECHO ..."),
        "{known}"
    );
}

#[test]
fn merging_a_folder_that_is_not_there_is_one_line_that_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let merged = common::stutterfuzz_cli()
        .arg("merge")
        .arg(dir.path().join("no-such-folder"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&merged.stderr);
    assert_eq!(merged.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read the failures folder") && stderr.contains("--failures-dir"),
        "{stderr}"
    );
}

/// A client with two crash sites (a bulk reply taken from one read, a status line taken
/// from one read) against recorded answers.
fn two_bugs_client() -> stutterfuzz::StutterClient {
    let mut command = std::process::Command::new(fixture("two-bugs-client"));
    command.arg("{addr}").env("RUST_BACKTRACE", "0");
    stutterfuzz::StutterClient::command(command)
        .answers("fixtures/client/answers")
        .regressions(stutterfuzz::Regressions::Off)
}

/// The lines of the fixture client's two `panic!`s: the bulk reply's, the status line's.
fn panic_lines() -> [usize; 2] {
    let source = std::fs::read_to_string("fixtures/servers/src/bin/two-bugs-client.rs").unwrap();
    let lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("panic!("))
        .map(|(i, _)| i + 1)
        .collect();
    lines.try_into().expect("two panics")
}

#[test]
fn a_client_run_that_keeps_going_reports_two_crash_sites_as_two_findings() {
    // The progress hook is shown the run so far, findings included.
    let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let last_shown = shown.clone();
    let failure = two_bugs_client()
        .progress(Duration::from_millis(100), move |report| {
            *last_shown.lock().unwrap() = report.to_string();
        })
        .keep_going(true)
        .try_run_for(Duration::from_secs(15))
        .expect_err("two bugs are found");
    let all = failure
        .findings()
        .unwrap_or_else(|| panic!("the run kept going:\n{failure}"));
    let signatures = signatures(all);
    let [bulk, status] = panic_lines();
    let at = |line: usize| {
        format!(
            "the client exited with status 101 at fixtures/servers/src/bin/two-bugs-client.rs:{line}"
        )
    };
    assert_eq!(signatures, [at(bulk), at(status)], "{failure}");
    // Each narrowed to a cut of its own answer: the bulk reply's, the status line's.
    let first_cut = |line: usize| -> usize {
        let d = all
            .distinct()
            .iter()
            .find(|d| d.finding().signature() == at(line));
        let case = d.unwrap().finding().minimal().to_string();
        case.rsplit(':')
            .next()
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(first_cut(bulk) < 19, "the first answer is cut:\n{failure}");
    assert!(
        first_cut(status) >= 19,
        "the first answer is whole:\n{failure}"
    );
    let shown = shown.lock().unwrap().clone();
    assert!(
        shown.starts_with("client runs=") && shown.contains("findings="),
        "{shown}"
    );
    let text = failure.to_string();
    assert!(text.contains("stutterfuzz found 2 distinct bugs"), "{text}");
}

#[test]
fn a_client_run_with_a_known_finding_reports_only_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known.txt");
    std::fs::write(
        &known,
        format!(
            "# signature: the client exited with status 101 at fixtures/servers/src/bin/two-bugs-client.rs:{}\n",
            panic_lines()[0]
        ),
    )
    .unwrap();
    // A seed whose first failing try crashes at the known place: the note counts it. (With
    // another, the other bug may be met first, and the note has nothing to count.)
    let failure = two_bugs_client()
        .keep_going(stutterfuzz::ClientKeepGoing::past_known(&known))
        .seed(1)
        .try_run_for(Duration::from_secs(15))
        .expect_err("the other bug is found");
    let finding = failure.finding().expect("a finding");
    assert!(
        finding
            .signature()
            .ends_with(&format!("two-bugs-client.rs:{}", panic_lines()[1])),
        "{failure}"
    );
    assert!(
        failure
            .to_string()
            .contains("matched the known-findings file"),
        "{failure}"
    );
}

/// One read taken as a whole reply, in this process: panics that quote what they read.
async fn two_bugs_in_process(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 256];
    stream.write_all(b"GET greeting\r\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    let bulk = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        bulk.matches('\n').count() >= 2,
        "bulk reply without its body: {bulk:?}"
    );
    stream.write_all(b"PING\r\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    let status = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(status.ends_with("\r\n"), "status line cut: {status:?}");
    bulk + &status
}

#[test]
fn an_in_process_clients_panics_are_told_apart_by_their_message_not_the_bytes_it_quotes() {
    let failure = stutterfuzz::StutterClient::function(two_bugs_in_process)
        .answers("fixtures/client/answers")
        .regressions(stutterfuzz::Regressions::Off)
        .keep_going(true)
        .try_run_for(Duration::from_secs(10))
        .expect_err("two bugs are found");
    let all = failure
        .findings()
        .unwrap_or_else(|| panic!("the run kept going:\n{failure}"));
    let signatures = signatures(all);
    assert_eq!(
        signatures,
        [
            "the client panicked: bulk reply without its body: \"<s>\"",
            "the client panicked: status line cut: \"<s>\"",
        ],
        "{failure}"
    );
}

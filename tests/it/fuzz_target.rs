//! The fuzz target: a fuzzer's bytes become a case delivered to an in-process server kept
//! up across inputs; a failing case panics with its case string, which replays against the
//! same server run as a process; case strings and regression lines convert back to inputs.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use stutterfuzz::fuzz::{FuzzTarget, blobs_in, case_of_input, input_of_case};
use stutterfuzz::{Case, Stutter};

fn framed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/framed")
}

fn target() -> FuzzTarget {
    Stutter::serve(stutterfuzz_fixtures::framed::serve_framed_buggy)
        .blobs(framed_dir())
        .fuzz_target()
        .expect("the in-process server starts")
}

/// Blob 0, no flags, chunks of 2, 121 and 1 bytes, then the rest: the planted sequence.
const PLANTED: &[u8] = &[0, 0, 1, 120, 0];

#[test]
fn the_sample_blob_is_the_fixture_s_frames() {
    let file = std::fs::read(framed_dir().join("frames.bin")).unwrap();
    assert_eq!(file, stutterfuzz_fixtures::framed::sample_frames());
}

#[test]
fn inputs_are_delivered_to_a_server_kept_up_and_a_failing_one_panics_with_its_case() {
    let target = target();
    assert_eq!(
        target.case(PLANTED).to_string(),
        "v1:frames.bin:2,121,1,585"
    );
    let delivered = target
        .try_run(&[0, 0, 1, 120, 4])
        .expect("a harmless split");
    assert_eq!(
        delivered.response().bytes(),
        b"OK 1 120\nOK 2 300\nOK 3 77\nOK 4 200\n"
    );
    let failure = target.try_run(PLANTED).expect_err("the planted sequence");
    assert!(
        failure.to_string().contains("stale split-length note"),
        "{failure}"
    );
    // The server's task panicked; the server is still up for the next input.
    target.try_run(&[0, 0]).expect("the next input is served");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(PLANTED)))
        .expect_err("run panics on a failing case");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.starts_with("stutterfuzz case = v1:frames.bin:2,121,1,585\n"),
        "{message}"
    );
}

#[test]
fn a_crash_file_converts_to_a_case_that_replays_against_the_server_as_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let crash = dir.path().join("crash-planted");
    std::fs::write(&crash, PLANTED).unwrap();
    let printed = Command::cargo_bin("stutterfuzz")
        .unwrap()
        .args(["case-of-input", "--blob-dir"])
        .arg(framed_dir())
        .arg(&crash)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let case = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    assert_eq!(case, "v1:frames.bin:2,121,1,585");

    // The same server as a process: the case replays through the library...
    let replayed = common::stutter("127.0.0.1:0")
        .server(common::fixture_command("framed-server-buggy", None))
        .blobs(framed_dir())
        .replay(case.clone())
        .try_run_for(Duration::from_secs(30))
        .expect_err("the case fails again");
    assert!(
        replayed.to_string().contains("stale split-length note"),
        "{replayed}"
    );
    // ...and through the command line's --replay.
    let server = format!(
        "{} --listen {{addr}}",
        common::fixture("framed-server-buggy").display()
    );
    let cli = Command::cargo_bin("stutterfuzz")
        .unwrap()
        .arg("--blob-dir")
        .arg(framed_dir())
        .args(["--host", "127.0.0.1", "--port", "0", "--server", &server])
        .arg("--failures-dir")
        .arg(dir.path().join("failures"))
        .args(["--replay", &case])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(
        stderr.contains(&format!("case {case} still fails")),
        "{stderr}"
    );
}

#[test]
fn case_strings_and_regression_lines_seed_the_fuzzer_s_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let regressions = dir.path().join("regressions.txt");
    std::fs::write(
        &regressions,
        "# a finding\nv1 kind=output-matched seed=1 fnv64=0000000000000001 chunks=2,121,1,585 blob=frames.bin\n",
    )
    .unwrap();
    let corpus = dir.path().join("corpus");
    let written = Command::cargo_bin("stutterfuzz")
        .unwrap()
        .args(["input-of-case", "--blob-dir"])
        .arg(framed_dir())
        .arg("--out")
        .arg(&corpus)
        .arg("v1:frames.bin:5,704;slow=64x8@2ms")
        .arg(&regressions)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&written.stderr);
    assert!(written.status.success(), "{stderr}");
    assert!(stderr.contains("2 inputs written"), "{stderr}");
    let blobs = blobs_in(&[framed_dir()]).unwrap();
    let mut cases: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| {
            let input = std::fs::read(e.unwrap().path()).unwrap();
            case_of_input(&input, &blobs).unwrap().to_string()
        })
        .collect();
    cases.sort();
    assert_eq!(
        cases,
        [
            "v1:frames.bin:2,121,1,585",
            "v1:frames.bin:5,704;slow=64x8@2ms"
        ]
    );
    // A case that does not fit the blobs is refused with the reason.
    let case: Case = "v1:frames.bin:700,700".parse().unwrap();
    let err = input_of_case(&case, &blobs).unwrap_err().to_string();
    assert!(err.contains("add up to 1400 bytes"), "{err}");
}

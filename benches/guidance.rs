//! Does coverage guidance find a rare boundary bug faster than random splits? Both searches
//! run against the same in-process fixture (`stutterfuzz_fixtures::framed`: a crash behind
//! three partial reads in a row) with the same time limit, several times each, and the time
//! to the finding is printed with the median and the maximum. A run that finds nothing
//! counts as the whole limit, and is marked.
//!
//! ```text
//! cargo bench --bench guidance -- [--runs 5] [--seconds 60] [--no-seeds] [--fork N]
//! ```
//!
//! Random: `Stutter::serve(...).run_for(limit)`, a new seed each run (100 connections at
//! once). Guided: `scripts/fuzz framed` (libFuzzer, one connection at a time) with
//! `-use_value_profile=1` and a new `-seed` each run, its corpus seeded with the case strings
//! of `fuzz/seeds/framed/cases.txt` (two splits of the first frame's header, as a user who
//! knows the protocol would write them); `--no-seeds` starts it from an empty corpus, and
//! `--guided-only` skips the random runs; `--fork N` runs N fuzzing processes at once (libFuzzer's `-fork=N`: the random search
//! has 100 connections at once, a fuzzer one per process).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use stutterfuzz::Regressions;

use stutterfuzz::fuzz::{blobs_in, input_file_name, input_of_case};
use stutterfuzz::{Case, Stutter};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(Ok(default), |v| v.parse::<u64>())
    };
    let (Ok(runs), Ok(seconds), Ok(fork)) = (
        value("--runs", 5),
        value("--seconds", 60),
        value("--fork", 0),
    ) else {
        eprintln!("guidance: --runs, --seconds and --fork take whole numbers");
        return ExitCode::from(2);
    };
    let skip_random = args.iter().any(|a| a == "--guided-only");
    let seeded = !args.iter().any(|a| a == "--no-seeds");
    let limit = Duration::from_secs(seconds);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    println!("limit {seconds} s, {runs} runs each");

    let mut random = Vec::new();
    for run in (0..runs).filter(|_| !skip_random) {
        let found = random_search(&root, run, limit);
        println!("random  run {}: {}", run + 1, shown(found, limit));
        random.push(found);
    }
    let mut guided = Vec::new();
    for run in 0..runs {
        let found = match guided_search(&root, run, limit, seeded, fork) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("guidance: {e}");
                return ExitCode::from(2);
            }
        };
        println!("guided  run {}: {}", run + 1, shown(found, limit));
        guided.push(found);
    }
    if !skip_random {
        println!("random: {}", summary(&random, limit));
    }
    println!("guided: {}", summary(&guided, limit));
    ExitCode::SUCCESS
}

/// The time random splits took to find the bug, if they did within `limit`.
fn random_search(root: &Path, run: u64, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let outcome = Stutter::serve(stutterfuzz_fixtures::framed::serve_framed_buggy)
        .blobs(root.join("fixtures/framed"))
        .seed(1000 + run)
        .regressions(Regressions::Off)
        .try_run_for(limit);
    match outcome {
        Err(failure) if failure.finding().is_some() => Some(started.elapsed()),
        _ => None,
    }
}

/// The time libFuzzer took to write a crash file, if it did within `limit`.
fn guided_search(
    root: &Path,
    run: u64,
    limit: Duration,
    seeded: bool,
    fork: u64,
) -> Result<Option<Duration>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let corpus = dir.path().join("corpus/framed");
    std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
    if seeded {
        let blobs = blobs_in(&[root.join("fixtures/framed")]).map_err(|e| e.to_string())?;
        let seeds = std::fs::read_to_string(root.join("fuzz/seeds/framed/cases.txt"))
            .map_err(|e| e.to_string())?;
        for line in seeds
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let case: Case = line.parse().map_err(|e| format!("{line}: {e}"))?;
            let input = input_of_case(&case, &blobs).map_err(|e| e.to_string())?;
            std::fs::write(corpus.join(input_file_name(&input)), input)
                .map_err(|e| e.to_string())?;
        }
    }
    let script = root.join("scripts/fuzz");
    // Built once before the clock starts.
    let built = Command::new(&script)
        .args(["framed", "-runs=0"])
        .env("STUTTERFUZZ_FUZZ_DIR", dir.path())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !built.success() {
        return Err("scripts/fuzz framed did not build".into());
    }
    let started = Instant::now();
    let status = Command::new(&script)
        .arg("framed")
        .arg(format!("-max_total_time={}", limit.as_secs()))
        .arg(format!("-seed={}", 1000 + run))
        .args(["-use_value_profile=1", "-max_len=16", "-len_control=0"])
        .args((fork > 0).then(|| format!("-fork={fork}")))
        .env("STUTTERFUZZ_FUZZ_DIR", dir.path())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let crashed = std::fs::read_dir(dir.path().join("artifacts/framed"))
        .map(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("crash-")))
        })
        .unwrap_or(false);
    Ok((crashed && !status.success()).then_some(elapsed))
}

fn shown(found: Option<Duration>, limit: Duration) -> String {
    match found {
        Some(t) => format!("{:.1} s", t.as_secs_f64()),
        None => format!("not found in {} s", limit.as_secs()),
    }
}

fn summary(found: &[Option<Duration>], limit: Duration) -> String {
    let mut times: Vec<f64> = found
        .iter()
        .map(|f| f.unwrap_or(limit).as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let max = times.last().copied().unwrap_or(0.0);
    let found = found.iter().filter(|f| f.is_some()).count();
    format!(
        "found {found}/{}, median {median:.1} s, max {max:.1} s (a run that found nothing counts as {} s)",
        times.len(),
        limit.as_secs()
    )
}

//! The `stutterfuzz` command: the original C tool's interface (same options, defaults and
//! output lines) over the library's public API, plus spawning the server, time and round
//! budgets, seeds, replay and failure files; and `stutterfuzz capture` (a recording proxy) and
//! `stutterfuzz import` (blobs from a packet capture); `stutterfuzz client` (a client's answers
//! cut); `stutterfuzz case-of-input` and
//! `stutterfuzz input-of-case` (between fuzzer inputs and case strings).
//!
//! Exit status: 0 no finding (budget reached, interrupted, or a replayed case passed);
//! 1 a finding; 2 a usage or setup error, as one line that says what to do.

#![allow(
    clippy::print_stderr,
    clippy::print_stdout,
    reason = "the command owns the terminal"
)]

mod args;
mod capture;
mod client;
mod failures;
mod fuzz_input;
mod import;
mod merge;
mod terminal;

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use stutterfuzz::{
    AnswerOracle, Failure, Finding, KeepGoing, OutputRules, Pacing, RunControl, StopHandle, Stutter,
};

use crate::args::{Args, accept_single_dash};
use crate::terminal::StatsLine;

fn main() -> ExitCode {
    // Subcommands first; the bare form is the original tool's.
    let mut argv = std::env::args_os();
    let program = argv.next().unwrap_or_default();
    let rest: Vec<std::ffi::OsString> = argv.collect();
    let sub =
        |word: &str| std::ffi::OsString::from(format!("{} {word}", program.to_string_lossy()));
    match rest.first().and_then(|a| a.to_str()) {
        Some("import") => {
            return import::main(std::iter::once(sub("import")).chain(rest.into_iter().skip(1)));
        }
        Some("client") => {
            return client::main(std::iter::once(sub("client")).chain(rest.into_iter().skip(1)));
        }
        Some("capture") => {
            return capture::main(std::iter::once(sub("capture")).chain(rest.into_iter().skip(1)));
        }
        Some("merge") => {
            return merge::main(std::iter::once(sub("merge")).chain(rest.into_iter().skip(1)));
        }
        Some("case-of-input") => {
            let args = std::iter::once(sub("case-of-input")).chain(rest.into_iter().skip(1));
            return fuzz_input::case_of_input_main(args);
        }
        Some("input-of-case") => {
            let args = std::iter::once(sub("input-of-case")).chain(rest.into_iter().skip(1));
            return fuzz_input::input_of_case_main(args);
        }
        _ => {}
    }
    let args = Args::from_env();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("stutterfuzz: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let line = StatsLine::new(args.original_stats, args.duration);
    let fuzz = configure(args, &line)?;
    let summary = fuzz.blob_summary().map_err(|e| e.to_string())?;
    if !args.quiet {
        // The original tool's first line, kept first for scripts that read it; then what is
        // checked, what a clean run vouches for.
        eprintln!("{summary}");
        eprintln!("Checking {}", fuzz.checks());
    }
    if args.verbose {
        eprintln!(
            "Target: {}{}; {} connections; {}",
            args.address(),
            args.server
                .as_deref()
                .map(|s| format!(", started as `{s}`"))
                .unwrap_or_default(),
            args.num_conns,
            match args.cycle_ms {
                Some(ms) => format!("fixed cycle of {ms} ms"),
                None => format!("paced per connection, {} ms pause", args.pause_ms),
            }
        );
    }
    match &args.replay {
        Some(arg) => replay(args, fuzz, arg),
        None => fuzz_until_done(args, fuzz, &line),
    }
}

/// The library run the arguments describe; `line` is its progress line, lifted while a
/// finding is printed.
fn configure(args: &Args, line: &StatsLine) -> Result<Stutter, String> {
    let fuzz = Stutter::new(args.address())
        .blobs(&args.blob_dir)
        .connections(args.num_conns)
        .pacing(args.pacing())
        .timeouts(args.timeouts())
        .control(RunControl::default().rerun_command(rerun_template()));
    let fuzz = with_delivery(fuzz, args)?;
    let fuzz = with_tls(fuzz, args)?;
    let fuzz = with_checks(fuzz, args, line);
    let fuzz = with_drawing(fuzz, args);
    with_server(fuzz, args)
}

/// How cases are delivered: a fixed cycle if asked for, and the disruptions with their
/// chances; a zero cycle or pause is a usage error.
fn with_delivery(mut fuzz: Stutter, args: &Args) -> Result<Stutter, String> {
    if let Some(ms) = args.cycle_ms {
        if ms == 0 {
            return Err("--cycle-ms must be at least 1; leave it out for paced delivery".into());
        }
        fuzz = fuzz.pacing(Pacing::Cycle(Duration::from_millis(ms)));
    }
    if args.stall_ms == 0 {
        return Err("--stall-ms must be at least 1; use --stall-chance 0 for no pauses".into());
    }
    Ok(fuzz.disruptions(args.disruptions()))
}

/// TLS, when any TLS option is given: `--tls` with a CA file or `--tls-insecure`, and the
/// server name if given; a TLS option without `--tls`, or `--tls` without a way to trust the
/// server, is a usage error.
fn with_tls(fuzz: Stutter, args: &Args) -> Result<Stutter, String> {
    if !(args.tls || args.tls_ca.is_some() || args.tls_insecure || args.tls_server_name.is_some()) {
        return Ok(fuzz);
    }
    if !args.tls {
        return Err("--tls-ca, --tls-insecure and --tls-server-name need --tls".into());
    }
    let mut options = match (&args.tls_ca, args.tls_insecure) {
        (_, true) => stutterfuzz::TlsOptions::insecure(),
        (Some(ca), false) => stutterfuzz::TlsOptions::with_ca(ca),
        (None, false) => {
            return Err(
                "--tls needs --tls-ca FILE (the CA or the server's certificate) or --tls-insecure (test servers)"
                    .into(),
            );
        }
    };
    if let Some(name) = &args.tls_server_name {
        options = options.server_name(name);
    }
    Ok(fuzz.tls(options))
}

/// What counts as a finding and what is done with one: the response checks, keep-going
/// (each new finding saved and printed through `line`), known findings, isolated blobs,
/// masks, the response timeout, output rules and the recording.
fn with_checks(mut fuzz: Stutter, args: &Args, line: &StatsLine) -> Stutter {
    if args.no_expect_same_response {
        fuzz = fuzz.oracle(AnswerOracle::none());
    }
    let mut keep_going = KeepGoing::from(args.keep_going);
    if args.keep_going {
        // Each new finding is saved and printed at once: a run killed later loses none.
        let failures_dir = args.failures_dir.clone();
        let line = line.clone();
        keep_going = keep_going.on_finding(move |finding| {
            line.new_finding(finding.signature(), || {
                report_finding(&failures_dir, finding, None);
            });
        });
    }
    if let Some(known) = &args.known {
        keep_going = keep_going.known(known);
    }
    fuzz = fuzz.keep_going(keep_going);
    if args.isolate_blobs {
        fuzz = fuzz.oracle(AnswerOracle::default().isolate_blobs(true));
    }
    for pattern in &args.mask {
        fuzz = fuzz.oracle(AnswerOracle::default().mask(pattern));
    }
    if let Some(ms) = args.response_timeout {
        fuzz = fuzz.oracle(AnswerOracle::default().within(Duration::from_millis(ms.max(1))));
    }
    if let Some(rules) = output_rules(&args.fail_on_output, &args.ignore_output) {
        fuzz = fuzz.output(rules);
    }
    if let Some(path) = &args.record {
        fuzz = fuzz.control(RunControl::default().record(path));
    }
    fuzz
}

/// Which cases are drawn, and how many: the seed, the shard, the round count.
fn with_drawing(mut fuzz: Stutter, args: &Args) -> Stutter {
    if let Some(seed) = args.seed {
        fuzz = fuzz.seed(seed.value());
    }
    if let Some(shard) = args.shard {
        fuzz = fuzz.shard(shard.number(), shard.count());
    }
    if let Some(rounds) = args.rounds {
        fuzz = fuzz.cycles(rounds);
    }
    fuzz
}

/// The server to start, from `--server` split as a shell would; one that does not parse,
/// or is empty, is a usage error.
fn with_server(mut fuzz: Stutter, args: &Args) -> Result<Stutter, String> {
    if let Some(line) = &args.server {
        let words = shell_words::split(line)
            .map_err(|e| format!("--server {line:?} does not parse as a command line: {e}"))?;
        let Some((program, rest)) = words.split_first() else {
            return Err("--server is empty: give the command that starts the server".into());
        };
        let mut command = Command::new(program);
        command.args(rest);
        fuzz = fuzz.server(command);
    }
    Ok(fuzz)
}

/// Fuzzes until the budget, an interrupt (SIGINT or SIGTERM) or a finding.
fn fuzz_until_done(args: &Args, fuzz: Stutter, line: &StatsLine) -> Result<ExitCode, String> {
    let stop = StopHandle::new();
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.stop())
        .map_err(|e| format!("cannot install the interrupt handler: {e}"))?;
    let mut control = RunControl::default().stop(stop);
    if !args.quiet {
        let printer = line.clone();
        control = control.progress(line.interval(), move |stats| printer.show(stats));
    }
    let fuzz = fuzz.control(control);
    let outcome = fuzz.try_run_for(args.duration.unwrap_or(Duration::MAX));
    line.close();
    match outcome {
        Ok(report) => {
            if !args.quiet {
                eprintln!("{}", line.line(report.stats()));
                eprintln!("{}", report.to_string().lines().next().unwrap_or_default());
            }
            for note in report.notes() {
                eprintln!("stutterfuzz: note: {note}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure::Finding(finding)) => Ok(report_finding(&args.failures_dir, &finding, None)),
        Err(Failure::Findings(all)) => {
            // Each was printed and saved as it was found: the table sums them up.
            println!("{}", all.summary());
            if !args.quiet {
                eprintln!("{}", line.line(all.report().stats()));
            }
            for note in all.report().notes() {
                eprintln!("stutterfuzz: note: {note}");
            }
            Ok(ExitCode::from(1))
        }
        Err(failure) => Err(setup_message(failure)),
    }
}

/// Replays the case (or every case of a failure file) until one fails.
fn replay(args: &Args, fuzz: Stutter, arg: &str) -> Result<ExitCode, String> {
    let (cases, whole_run) = failures::cases_to_replay(arg)?;
    if let Some(again) = &whole_run {
        eprintln!(
            "stutterfuzz: this finding shows only under the whole run's load, never one case alone; \
             each suspect is replayed alone for another bug. To reproduce it: {again}"
        );
    }
    for case in &cases {
        if !args.quiet {
            eprintln!("Replaying {case}");
        }
        match fuzz
            .clone()
            .replay(case.to_string())
            .try_run_for(Duration::MAX)
        {
            Ok(report) => {
                if !args.quiet {
                    eprintln!("{}", report.to_string().lines().next().unwrap_or_default());
                }
            }
            Err(Failure::Finding(finding)) => {
                eprintln!("stutterfuzz: case {case} still fails");
                // A failure file is saved already: replaying it adds no other.
                let saved = std::path::Path::new(arg).is_file().then_some(arg);
                return Ok(report_finding(&args.failures_dir, &finding, saved));
            }
            Err(failure) => return Err(setup_message(failure)),
        }
    }
    let replayed = format!(
        "{} case{} replayed alone, none failed",
        cases.len(),
        if cases.len() == 1 { "" } else { "s" }
    );
    match whole_run {
        Some(again) => eprintln!(
            "stutterfuzz: {replayed}, as expected of a finding no case alone shows; reproduce it with the same run: {again}"
        ),
        None => eprintln!("stutterfuzz: no longer fails: {replayed}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Saves the finding (unless it was replayed from the failure file `saved_in`), prints it,
/// and gives the exit status of a finding.
fn report_finding(failures_dir: &Path, finding: &Finding, saved_in: Option<&str>) -> ExitCode {
    if let Some(file) = saved_in {
        println!("{finding}");
        eprintln!("stutterfuzz: the finding replayed from {file} still fails (not saved again)");
        return ExitCode::from(1);
    }
    let whole_run = (!finding.shown_alone()).then(|| {
        rerun_template().replace("--replay {case}", &format!("--seed {}", finding.seed()))
    });
    let best = finding
        .best_case()
        .or_else(|| finding.suspects().first().map(|s| s.case()));
    let hint = match (&whole_run, best) {
        (Some(again), _) => format!("the same run again: {again}"),
        (None, Some(case)) => finding.replay_line(case),
        (None, None) => "no case was in flight".to_owned(),
    };
    let saved = failures::save(failures_dir, finding, &hint, whole_run.as_deref());
    println!("{finding}");
    match (saved, whole_run) {
        (Ok(path), Some(again)) => eprintln!(
            "stutterfuzz: finding saved to {}; no case alone shows it: reproduce it with the same run, {again}",
            path.display(),
        ),
        (Ok(path), None) => eprintln!(
            "stutterfuzz: finding saved to {}; replay it with --replay {}",
            path.display(),
            path.display()
        ),
        (Err(e), _) => eprintln!(
            "stutterfuzz: could not save the finding in {}: {e} (the report above is all there is)",
            failures_dir.display()
        ),
    }
    ExitCode::from(1)
}

/// One set of output rules with every pattern given on the command line (each call to
/// `output` replaces the rules before it), or none when none was given.
pub(crate) fn output_rules(fail_on: &[String], ignore: &[String]) -> Option<OutputRules> {
    if fail_on.is_empty() && ignore.is_empty() {
        return None;
    }
    let rules = fail_on
        .iter()
        .fold(OutputRules::default(), |rules, p| rules.fail_on(p));
    Some(ignore.iter().fold(rules, |rules, p| rules.ignore(p)))
}

fn setup_message(failure: Failure) -> String {
    match failure {
        Failure::Setup(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// This command line with its seed and replay options replaced by `--replay {case}`.
fn rerun_template() -> String {
    // The budget stays: a replay ignores it, and the same run again (a finding only the
    // whole run shows) needs it to end as the first did. What only a long run means
    // (going on after findings, passing over known ones) goes.
    const DROP: [&str; 3] = ["--replay", "--seed", "--known"];
    const DROP_FLAGS: [&str; 1] = ["--keep-going"];
    let args = accept_single_dash(std::env::args_os());
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args.iter().map(|a| a.to_string_lossy().into_owned()) {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if DROP_FLAGS.contains(&arg.as_str()) {
            continue;
        }
        if DROP.contains(&arg.as_str()) {
            skip_value = true;
            continue;
        }
        if DROP.iter().any(|d| arg.starts_with(&format!("{d}="))) {
            continue;
        }
        kept.push(shell_words::quote(&arg).into_owned());
    }
    kept.push("--replay {case}".to_owned());
    kept.join(" ")
}

//! `stutterfuzz case-of-input` and `stutterfuzz input-of-case`: between a fuzzer's inputs
//! (crash files, corpus entries) and case strings, given the blob directory they refer to.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use stutterfuzz::Case;
use stutterfuzz::fuzz::{blobs_in, case_of_input, input_file_name, input_of_case};

/// Print the case string of each fuzzer input
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz case-of-input",
    about = "Print the case string each fuzzer input stands for (a crash file from libFuzzer or \
AFL, a corpus entry), for --replay or STUTTERFUZZ_REPLAY against the server run as a process.",
    after_help = "Example: stutterfuzz case-of-input --blob-dir fixtures/framed \
fuzz/artifacts/framed/crash-1a2b3c"
)]
pub(crate) struct CaseOfInput {
    /// The blob directory the fuzz target was given
    #[arg(long, value_name = "DIR", required = true)]
    blob_dir: Vec<PathBuf>,

    /// Fuzzer inputs
    #[arg(value_name = "FILE", required = true)]
    inputs: Vec<PathBuf>,
}

/// Write the fuzzer input of each case
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz input-of-case",
    about = "Write the fuzzer input of each case, to seed a fuzzer's corpus: case strings as \
reports print them, or regression files (one input per line). A pause mid-message is left out.",
    after_help = "Example: stutterfuzz input-of-case --blob-dir fixtures/framed --out fuzz/corpus/framed \
'v1:frames.bin:2,121,1,585' tests/stutterfuzz-regressions/framed.txt"
)]
pub(crate) struct InputOfCase {
    /// The blob directory the cases were found with
    #[arg(long, value_name = "DIR", required = true)]
    blob_dir: Vec<PathBuf>,

    /// Where the inputs go (created if missing), one file per case
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Case strings, or files of them (regression files: comments and blank lines skipped)
    #[arg(value_name = "CASE|FILE", required = true)]
    cases: Vec<String>,
}

/// Runs `case-of-input` with the arguments after its name.
pub(crate) fn case_of_input_main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    finish("case-of-input", print_cases(&CaseOfInput::parse_from(args)))
}

/// Runs `input-of-case` with the arguments after its name.
pub(crate) fn input_of_case_main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    finish(
        "input-of-case",
        write_inputs(&InputOfCase::parse_from(args)),
    )
}

fn finish(name: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("stutterfuzz {name}: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn print_cases(args: &CaseOfInput) -> Result<(), String> {
    let blobs = blobs_in(&args.blob_dir).map_err(|e| e.to_string())?;
    for path in &args.inputs {
        let input = std::fs::read(path)
            .map_err(|e| format!("cannot read {}: {e}; check the path", path.display()))?;
        let case = case_of_input(&input, &blobs).ok_or("the blob directory has no blobs")?;
        println!("{case}");
    }
    Ok(())
}

fn write_inputs(args: &InputOfCase) -> Result<(), String> {
    let blobs = blobs_in(&args.blob_dir).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut written = 0;
    for given in &args.cases {
        for (text, case) in cases(given)? {
            if case.stall().is_some() {
                eprintln!(
                    "stutterfuzz input-of-case: {text}: its pause mid-message is left out (an input has none)"
                );
            }
            let input = input_of_case(&case, &blobs).map_err(|e| format!("{text}: {e}"))?;
            let path = args.out.join(input_file_name(&input));
            std::fs::write(&path, &input)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written += 1;
        }
    }
    eprintln!(
        "stutterfuzz input-of-case: {written} inputs written to {}",
        args.out.display()
    );
    Ok(())
}

/// The cases `given` names: itself as a case string, or the lines of the file it names.
fn cases(given: &str) -> Result<Vec<(String, Case)>, String> {
    let path = Path::new(given);
    if !path.is_file() {
        let case = given.parse::<Case>().map_err(|e| e.to_string())?;
        return Ok(vec![(given.to_owned(), case)]);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let case = line
            .parse::<Case>()
            .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
        out.push((line.to_owned(), case));
    }
    Ok(out)
}

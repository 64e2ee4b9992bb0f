//! `stutterfuzz merge DIR... --out DIR`: the failures folders of many shards or CI jobs as
//! one list. Failure files are told apart by their `# signature:` line: one file is kept
//! per distinct finding (the earliest), and a table says how many files each had. Folders
//! with no failure file are a clean campaign: `0 distinct findings`, exit 0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

/// The signature line of a failure file.
const SIGNATURE: &str = "# signature: ";

/// The known-findings file merge writes into `--out`: every distinct signature.
const KNOWN_FILE: &str = "known-findings.txt";

#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz merge",
    about = "Merge the failures folders of several shards or CI jobs: one file per distinct \
finding (told apart by its `# signature:` line) is copied into --out, and a table lists each \
with how many files had it; --out/known-findings.txt lists their signatures, for --known. \
Server and client (`stutterfuzz client`) failure files alike.",
    after_help = "Example: stutterfuzz merge shard-1/stutterfuzz-failures \
shard-2/stutterfuzz-failures --out merged"
)]
pub(crate) struct MergeArgs {
    /// The failures folders (`--failures-dir` of each run)
    #[arg(value_name = "DIR", required = true)]
    dirs: Vec<PathBuf>,

    /// Where the distinct findings go (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `merge` with the arguments after the word `merge`.
pub(crate) fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = MergeArgs::parse_from(args);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("stutterfuzz merge: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// One distinct finding: the files that had it, in name order (the name holds the time).
struct Group {
    headline: String,
    files: Vec<PathBuf>,
}

fn run(args: &MergeArgs) -> Result<(), String> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut read = 0;
    // A run that found nothing leaves no folder: one missing folder among others is said
    // and passed over; none there at all is an error (a wrong path, most likely).
    let mut folders = Vec::new();
    let mut missing = Vec::new();
    for dir in &args.dirs {
        match failure_files(dir) {
            Ok(files) => folders.push(files),
            Err(message) => missing.push(message),
        }
    }
    if folders.is_empty() {
        return Err(missing.remove(0));
    }
    for message in &missing {
        eprintln!("stutterfuzz merge: passed over: {message}");
    }
    for files in folders {
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let (signature, headline) = header(&text);
            groups
                .entry(signature)
                .or_insert_with(|| Group {
                    headline,
                    files: Vec::new(),
                })
                .files
                .push(path);
            read += 1;
        }
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    println!(
        "{} distinct finding{} in {read} failure file{}:",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" },
        if read == 1 { "" } else { "s" }
    );
    // The signatures, as a known-findings file: the next runs pass over them (--known).
    let mut known = format!(
        "# stutterfuzz merge: the {} distinct finding(s) of {read} failure file(s); give this file to --known\n",
        groups.len()
    );
    for (signature, group) in &groups {
        known.push_str(&format!("# {}\n{SIGNATURE}{signature}\n", group.headline));
    }
    let known_path = args.out.join(KNOWN_FILE);
    std::fs::write(&known_path, known)
        .map_err(|e| format!("cannot write {}: {e}", known_path.display()))?;
    for (i, (signature, group)) in groups.iter_mut().enumerate() {
        group
            .files
            .sort_by_key(|p| p.file_name().map(ToOwned::to_owned));
        let first = &group.files[0];
        let name = first.file_name().ok_or("a failure file without a name")?;
        let kept = args.out.join(name);
        std::fs::copy(first, &kept)
            .map_err(|e| format!("cannot copy {} to {}: {e}", first.display(), kept.display()))?;
        println!(
            "{:>3}. {signature}\n     {}\n     in {} file{}; kept {}",
            i + 1,
            group.headline,
            group.files.len(),
            if group.files.len() == 1 { "" } else { "s" },
            kept.display()
        );
    }
    println!(
        "their signatures: {} (give it to --known to pass over them)",
        known_path.display()
    );
    Ok(())
}

/// The failure files of one folder.
fn failure_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read the failures folder {}: {e}; give the --failures-dir of a run",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let finding = name.starts_with("finding-") || name.starts_with("client-finding-");
        if finding && name.ends_with(".txt") {
            files.push(path);
        }
    }
    Ok(files)
}

/// A failure file's signature and headline (its second line); a file from before
/// signatures is known by its headline.
fn header(text: &str) -> (String, String) {
    let headline = text
        .lines()
        .nth(1)
        .and_then(|line| line.strip_prefix("# "))
        .unwrap_or("")
        .to_owned();
    let signature = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .find_map(|line| line.strip_prefix(SIGNATURE))
        .map_or_else(|| headline.clone(), str::to_owned);
    (signature, headline)
}

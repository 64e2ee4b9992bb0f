//! `stutterfuzz client --client 'CMD {addr}' (--upstream ADDR | --server CMD | --answers DIR)`:
//! the client direction from the command line, over [`stutterfuzz::StutterClient`].

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;

use crate::terminal::StatsLine;
use stutterfuzz::{
    ClientCase, ClientFailure, ClientFinding, ClientKeepGoing, Seed, StutterClient, Timeouts,
    defaults,
};

/// Fuzz a client by cutting the server's answers
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz client",
    about = "Test a client: run --client once per try against a listener of the harness, which \
answers it cut into chunks the client reads one at a time, from the real server (--upstream, or \
--server started here) or from recorded conversations (--answers, `#~ heard` lines as `stutterfuzz \
capture` writes them). The client fails when it exits non-zero, dies, hangs past --timeout, prints \
a sanitizer or panic line, or prints on stdout something else than when the answers arrive whole. \
A failure counts when its cut fails 3 times alone; it is narrowed and printed with a case that \
--replay runs again.\n\nExit status: 0 nothing found; 1 a client bug; 2 a usage or setup error.",
    after_help = "Example: stutterfuzz client --client 'redis-cli -h {host} -p {port} GET key' \
--server 'redis-server --port {port} --save \"\"' --duration 20s",
    after_long_help = "Example: stutterfuzz client --client 'redis-cli -h {host} -p {port} GET key' \
--server 'redis-server --port {port} --save \"\"' --duration 20s

The stats line of a clean run:
  client runs=N (R/s)  tries of the client with its answers cut (the whole runs not counted)
  cuts=N               cuts the answers reached the client with, in all
  read alone=P%        the share of cuts the client had read up to before the next chunk was
                       written: each chunk one read of its own (where its socket can be seen)
  unconfirmed=N        failures that did not fail again every time alone (not reported); each
                       listed with what failed once
  seed=N               the seed the cuts were drawn from (--seed N runs them again)

A finding: the minimal case on the answer bytes, each | a cut; the case string (c1:SOURCE:SIZES,
the chunk sizes of the answer stream) that --replay runs again. With --keep-going each distinct
finding (told apart by its signature: how the client failed and where its own trace says, or
the answer record the cut is in) is printed and saved as it is found, and a table ends the run.

STARTTLS: a client that starts TLS mid-conversation is answered by the harness, with the
certificate given to the client as {cert} (and STUTTERFUZZ_CERT): a throwaway one made for the
run, or --tls-cert/--tls-key. With --answers a conversation's `#~ tls` mark turns it on; through
the relay, --tls-ca FILE or --tls-insecure (how to reach the real server inside TLS). The answers
inside TLS are cut as in clear text, each chunk its own record; `cuts=N (M inside TLS)`."
)]
pub(crate) struct ClientArgs {
    /// The client command, run once per try ({addr}, {host} and {port} are where to connect,
    /// {cert} the certificate to trust when it starts TLS; split like a shell would)
    #[arg(long, value_name = "'CMD ARGS'")]
    client: String,

    /// The real server, already running: HOST:PORT
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["server", "answers"])]
    upstream: Option<String>,

    /// Start this server ({addr}, {host}, {port} are a free port) and relay to it
    #[arg(long, value_name = "'CMD ARGS'", conflicts_with = "answers")]
    server: Option<String>,

    /// Answer with the recorded conversations in DIR instead of a server
    #[arg(long, value_name = "DIR")]
    answers: Option<PathBuf>,

    /// Stop after this long, e.g. 30s, 2m
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,

    /// Stop after N tries with cut answers
    #[arg(long, value_name = "N")]
    cycles: Option<u64>,

    /// Seed of the cuts (decimal or 0x hex). Default: random, printed in reports
    #[arg(long, value_name = "N")]
    seed: Option<Seed>,

    /// Tries side by side, each one connection of the client (the library's .connections(n))
    #[arg(long, value_name = "N", default_value_t = defaults::CLIENT_CONNECTIONS, visible_alias = "connections")]
    parallel: usize,

    /// How long one run of the client may take before it counts as hung
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    /// Where the harness listens for the client (127.0.0.1 or ::1)
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    host: std::net::IpAddr,

    /// Serve the client on a Unix domain socket instead: give the client {path}
    #[arg(long)]
    unix: bool,

    /// A substring of the client's output that marks a bug (repeatable), besides sanitizer
    /// reports and panics
    #[arg(long, value_name = "TEXT")]
    fail_on_output: Vec<String>,

    /// Also cut what the client sends on its way to the server (--upstream or --server)
    #[arg(long)]
    split_requests: bool,

    /// Run this one case (c1:SOURCE:SIZES, as a report prints it) instead of fuzzing
    #[arg(long, value_name = "CASE")]
    replay: Option<ClientCase>,

    /// Go on after each finding until --duration or --cycles end: each distinct finding
    /// (told apart by its signature) is printed and saved the moment it is made, a table
    /// sums them up at the end
    #[arg(long)]
    keep_going: bool,

    /// A file of known findings, one signature a line (as failure files' `# signature:`
    /// lines show them): counted, not reported, and the run goes on
    #[arg(long, value_name = "FILE")]
    known: Option<PathBuf>,

    /// Also write each finding to a new file in DIR (created if needed), synced before exit
    #[arg(long, value_name = "DIR")]
    failures_dir: Option<PathBuf>,

    /// The certificate (PEM) the harness shows a client that starts TLS (STARTTLS) with it.
    /// Default: a throwaway one for localhost, made for the run; the client gets its path as
    /// {cert} and STUTTERFUZZ_CERT either way
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// Through the relay, a client's STARTTLS ends TLS on both sides: trust the real
    /// server's certificate if this PEM file (a test CA, or the server's own) vouches for it
    #[arg(long, value_name = "FILE", conflicts_with = "tls_insecure")]
    tls_ca: Option<PathBuf>,

    /// Like --tls-ca, without checking the real server's certificate (test servers only)
    #[arg(long)]
    tls_insecure: bool,

    /// With --tls-ca or --tls-insecure, the server name to ask the real server for and check
    /// (default: the --upstream host, or 127.0.0.1 for --server)
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,

    /// Print nothing but findings and errors
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `client` with the arguments after the word `client`.
pub(crate) fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = ClientArgs::parse_from(args);
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("stutterfuzz client: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn command(flag: &str, line: &str) -> Result<Command, String> {
    let words = shell_words::split(line).map_err(|e| format!("{flag} {line:?}: {e}"))?;
    let (program, args) = words
        .split_first()
        .ok_or_else(|| format!("{flag} is empty: give the command to run"))?;
    let mut command = Command::new(program);
    command.args(args);
    Ok(command)
}

fn run(args: &ClientArgs) -> Result<ExitCode, String> {
    let line = StatsLine::new(false, Some(args.duration));
    let fuzz = configure(args, &line)?;
    let outcome = fuzz.try_run_for(args.duration);
    line.close();
    match outcome {
        Ok(report) => {
            if !args.quiet {
                eprintln!("{report}");
                eprintln!("stutterfuzz client: no finding");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientFailure::Finding(finding)) => {
            report_finding(&args.failures_dir, &finding);
            Ok(ExitCode::from(1))
        }
        Err(ClientFailure::Findings(all)) => {
            // Each was printed and saved as it was found: the table sums them up.
            println!("{}", all.summary());
            if !args.quiet {
                eprintln!("{}", all.report());
            }
            Ok(ExitCode::from(1))
        }
        Err(failure @ ClientFailure::Setup(_)) => {
            Err(failure
                .to_string()
                .replacen("stutterfuzz could not run: ", "", 1))
        }
        Err(other) => Err(other.to_string()),
    }
}

/// The library run the arguments describe; `line` is its progress line, lifted while a
/// finding is printed.
fn configure(args: &ClientArgs, line: &StatsLine) -> Result<StutterClient, String> {
    let mut fuzz = StutterClient::command(command("--client", &args.client)?)
        .connections(args.parallel)
        .timeouts(Timeouts::default().client(args.timeout))
        .host(args.host)
        .unix(args.unix)
        .split_requests(args.split_requests);
    fuzz = match (&args.upstream, &args.server, &args.answers) {
        (Some(addr), _, _) => fuzz.upstream(addr),
        (_, Some(server), _) => fuzz.server(command("--server", server)?),
        (_, _, Some(dir)) => fuzz.answers(dir),
        _ => {
            return Err(
                "no answers for the client: give --upstream HOST:PORT, --server 'CMD' or --answers DIR"
                    .to_owned(),
            );
        }
    };
    fuzz = with_tls(fuzz, args)?;
    if let Some(n) = args.cycles {
        fuzz = fuzz.cycles(n);
    }
    if let Some(seed) = args.seed {
        fuzz = fuzz.seed(seed);
    }
    if let Some(case) = &args.replay {
        fuzz = fuzz.replay(case.clone());
    }
    if let Some(rules) = crate::output_rules(&args.fail_on_output, &[]) {
        fuzz = fuzz.output(rules);
    }
    if !args.quiet {
        let printer = line.clone();
        fuzz = fuzz.progress(line.interval(), move |report| {
            printer.show_text(report.to_string().lines().next().unwrap_or_default());
        });
    }
    let mut keep_going = ClientKeepGoing::from(args.keep_going);
    if args.keep_going {
        // Each new finding is printed and saved at once: a run killed later loses none.
        let failures_dir = args.failures_dir.clone();
        let line = line.clone();
        keep_going = keep_going.on_finding(move |finding| {
            line.new_finding(finding.signature(), || {
                report_finding(&failures_dir, finding)
            })
        });
    }
    if let Some(known) = &args.known {
        keep_going = keep_going.known(known);
    }
    fuzz = fuzz.keep_going(keep_going);
    Ok(fuzz)
}

/// The TLS settings: the harness's certificate (`--tls-cert` with `--tls-key`), and how the
/// relay reaches the real server inside TLS (`--tls-ca FILE` or `--tls-insecure`, and
/// `--tls-server-name`). A flag without its pair, or TLS settings for a server with
/// `--answers`, is a usage error.
fn with_tls(mut fuzz: StutterClient, args: &ClientArgs) -> Result<StutterClient, String> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => fuzz = fuzz.tls_identity(cert, key),
        (Some(_), None) => return Err("--tls-cert needs --tls-key (its private key)".into()),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert (its certificate)".into()),
        (None, None) => {}
    }
    let mut options = match (&args.tls_ca, args.tls_insecure) {
        (Some(ca), _) => stutterfuzz::TlsOptions::with_ca(ca),
        (None, true) => stutterfuzz::TlsOptions::insecure(),
        (None, false) if args.tls_server_name.is_some() => {
            return Err("--tls-server-name needs --tls-ca FILE (the CA or the server's certificate) or --tls-insecure (test servers)".into());
        }
        (None, false) => return Ok(fuzz),
    };
    if args.answers.is_some() {
        return Err("--tls-ca and --tls-insecure say how the relay reaches the real server inside TLS, and --answers has none: leave them out (a recorded `#~ tls` mark is answered with the run's certificate, or --tls-cert/--tls-key)".into());
    }
    // The host as written (a name, not the address it resolves to) unless told otherwise.
    let host = args
        .upstream
        .as_deref()
        .and_then(|addr| addr.rsplit_once(':'))
        .map(|(host, _)| host);
    if let Some(name) = args.tls_server_name.as_deref().or(host) {
        options = options.server_name(name);
    }
    Ok(fuzz.tls(options))
}

/// Prints the finding, then saves it in `dir` when given: printed first, it is never lost
/// when it cannot be saved.
fn report_finding(dir: &Option<PathBuf>, finding: &ClientFinding) {
    println!("{finding}");
    if let Some(dir) = dir {
        match save(dir, finding) {
            Ok(path) => eprintln!("finding written to {}", path.display()),
            Err(e) => eprintln!(
                "stutterfuzz client: error: cannot write the finding to {}: {e} (it is printed above)",
                dir.display()
            ),
        }
    }
}

/// Writes the finding to a new file in `dir`: its kind and signature, a `case c1:...`
/// line, then the report.
fn save(dir: &std::path::Path, finding: &ClientFinding) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix("client-finding-")
        .suffix(".txt")
        .tempfile_in(dir)?;
    writeln!(
        file,
        "# stutterfuzz client finding\n# {}\n# signature: {}\ncase {}\n\n{finding}",
        finding.kind(),
        finding.signature(),
        finding.minimal()
    )?;
    file.as_file().sync_all()?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_defaults_are_the_librarys() {
        let args =
            ClientArgs::try_parse_from(["client", "--client", "c", "--answers", "a"]).unwrap();
        assert_eq!(
            Timeouts::default().client(args.timeout),
            Timeouts::default()
        );
        assert_eq!(args.parallel, defaults::CLIENT_CONNECTIONS);
    }
}

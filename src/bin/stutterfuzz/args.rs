//! The command line: the original tool's options with their defaults, and ours.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use stutterfuzz::{Chance, Disruptions, Pacing, Seed, Timeouts, defaults};

const ABOUT: &str = "Fuzz a TCP server by varying packet boundaries.\n\n\
Opens many connections to HOST:PORT (or a Unix socket, --unix PATH) and sends each blob from \
--blob-dir over one of them, cut into random chunks. Each chunk waits until the server has read \
the previous one (its receive queue, seen through the kernel, is empty; for a server on another \
machine, the acknowledgement and --pause-ms), so the server really sees those boundaries. A crash, a refused connection, a \
server that stops accepting, or an answer that changes when the blob is split is a finding: the report and the case that replays it are printed \
and saved in --failures-dir.";

const AFTER: &str = "Exit status: 0 when the budget ran out or the run was interrupted with no \
finding (or a replayed case passed), 1 on a finding, 2 on a usage or setup error. --help (not \
-h) explains the stats line, reports and conversations.\n\n\
Options of the original tool also work with a single dash (-blob-dir=PATH).\n\n\
Blobs from real clients: stutterfuzz capture --listen ADDR --upstream ADDR --out DIR (a \
recording proxy), stutterfuzz import FILE --port P --out DIR (a packet capture); see their --help.

Many shards or CI jobs: stutterfuzz merge DIR... --out DIR keeps one failure file per distinct finding (by its `# signature:` line) and prints a table.

Other commands: stutterfuzz client (cuts a server's answers to a client under test), \
stutterfuzz input-of-case / case-of-input (a case as a fuzz target's input and back); see \
their --help.";

/// `--help` (not `-h`) ends with the words of the output and the blob formats explained.
const AFTER_LONG: &str =
    "Exit status: 0 when the budget ran out or the run was interrupted with no \
finding (or a replayed case passed), 1 on a finding, 2 on a usage or setup error.

What is checked by default: the server's death, refused or unaccepted connects, hangs, HTTP/2 \
and WebSocket protocol failures (a GOAWAY or close with an error code), alarms in its output \
(sanitizer reports, Rust panics, valgrind errors), and answers that change when \
split (each blob is first sent whole; every split delivery of it must get the same answer). \
The first lines of a run say which are on.

The stats line:
  deliveries        blobs delivered, each on a connection of its own, cut into chunks (per second)
  boundaries covered  of all the byte offsets inside the blobs, the share that has been a cut
  record starts     of the offsets 1 to 8 bytes after each record start (a frame of HTTP/2,
                    WebSocket or TLS, a length prefix, else after a line end or NUL), the
                    share that has been a cut: where parsers most often break
  unconfirmed       answers that differed (or came late) once, but not every time when the case
                    was delivered again alone: no finding; the first few cases are listed
  stalled           deliveries that stalled mid-message (--stall-chance) while a probe checked
                    that the server still serves others
  slow reads        deliveries whose answer was read slowly through a small window
                    (--slow-read-chance)
  elapsed           time spent fuzzing
  findings          (--keep-going) D distinct of T: the distinct findings made so far, and
                    every finding met, those met again included
  restarts          (--keep-going) times the run began again on a fresh server after a finding
  slow accepts      (a warning) connects that timed out with many connections in flight, from a server that then accepted alone: not a finding; the run went on with fewer connections

In answers, a number (or a sum of numbers) with a unit of time after it (0.002 secs, 12ms) is compared as <duration>: a split may make the server wait, and say so.

A report: culprit is the case that fails alone; minimal is its split pattern shrunk until no \
chunk can be dropped; the quoted line under each shows it on the blob's bytes, each | a cut \
(a literal | is \\|); replay is the command that delivers it again. A case string v1:BLOB:SIZES names the blob and \
the chunk sizes in bytes.

--response-timeout MS: after the last chunk, the answer must be complete within MS. Complete \
means: the server closed the connection, or, for a connection it keeps open, the answer \
reached the length of the blob's answer sent whole and nothing more came; without the \
comparison, at least one byte or a close.

Conversations, for servers that speak first or answer each request before reading the next: \
a blob file whose first line is `#~ stutterfuzz conversation`. Its other lines are sent as \
they are, except lines starting with `#~ `, which wait before the bytes that follow:
  #~ wait bytes=N       until the server has sent N bytes in all since the connection opened
  #~ wait pattern=TEXT  until TEXT shows in what it sent since the previous wait
  #~ wait quiet=MS      until it has sent nothing for MS milliseconds
  #~ wait frame=SETTINGS  until an HTTP/2 server has acked the client's SETTINGS
  #~ wait frame=HEADERS   until an HTTP/2 server has sent an answer's head (HEADERS stream=N: one stream's)
  #~ heard TEXT         what the server answered (recorded by capture and import; never sent)
A wait is a boundary too; the splits fall inside each part.

Options of the original tool also work with a single dash (-blob-dir=PATH).

Blobs from real clients: stutterfuzz capture --listen ADDR --upstream ADDR --out DIR (a \
recording proxy), stutterfuzz import FILE --port P --out DIR (a packet capture); see their --help.

Many shards or CI jobs: stutterfuzz merge DIR... --out DIR keeps one failure file per distinct finding (by its `# signature:` line) and prints a table.";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz",
    version,
    about = ABOUT,
    after_help = AFTER,
    after_long_help = AFTER_LONG
)]
pub(crate) struct Args {
    /// Directory of blobs: files of client-to-server traffic (names starting with '.' are skipped)
    #[arg(long, value_name = "PATH")]
    pub(crate) blob_dir: PathBuf,

    /// Host the server listens on: an IPv4 or IPv6 address or a host name
    #[arg(long, required_unless_present = "unix", conflicts_with = "unix")]
    pub(crate) host: Option<String>,

    /// Port the server listens on (0 with --server: pick a free port)
    #[arg(long, required_unless_present = "unix", conflicts_with = "unix")]
    pub(crate) port: Option<u16>,

    /// The server listens on this Unix domain socket instead of a TCP port. With --server,
    /// give the server {path}; --unix alone picks a fresh path in a temporary folder
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "")]
    pub(crate) unix: Option<String>,

    /// Fixed cycle in milliseconds, as the original tool (whose default was 150): each
    /// connection sends at most one chunk per cycle. Default: none; each connection sends its
    /// next chunk as soon as the server has read the previous one (its receive queue, seen
    /// through the kernel's sock_diag, is empty), which keeps every boundary over a hundred times
    /// faster than a fixed cycle; for a server on another machine, after the ACK and --pause-ms
    #[arg(long, value_name = "MS")]
    pub(crate) cycle_ms: Option<u64>,

    /// Connections in flight at once
    #[arg(long, value_name = "N", default_value_t = defaults::CONNECTIONS)]
    pub(crate) num_conns: usize,

    /// Send the first chunk with TCP fast open with chance 1 in N (0: never)
    #[arg(long, value_name = "N", default_value_t = defaults::FASTOPEN_CHANCE)]
    pub(crate) fastopen_chance: u32,

    /// Close a connection early, mid-blob, with chance 1 in N (0: never)
    #[arg(long, value_name = "N", default_value_t = defaults::CLOSE_CHANCE)]
    pub(crate) close_chance: u32,

    /// Stall a connection (pause it mid-message) with chance 1 in N (1: every one; 0: never),
    /// while a probe connection checks that the server still serves other clients
    #[arg(long, value_name = "N", default_value_t = defaults::STALL_CHANCE)]
    pub(crate) stall_chance: u32,

    /// Read a response slowly, through a small window, with chance 1 in N (1: every one;
    /// 0: never), so the server's writes come up short
    #[arg(long, value_name = "N", default_value_t = defaults::SLOW_READ_CHANCE)]
    pub(crate) slow_read_chance: u32,

    /// Speak TLS to the server: the handshake first (or where a conversation says `#~ tls`,
    /// STARTTLS), then each chunk as its own TLS record
    #[arg(long)]
    pub(crate) tls: bool,

    /// With --tls, trust the certificates in this PEM file (a test CA, or the server's own)
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,

    /// With --tls, do not check the server's certificate (test servers only)
    #[arg(long)]
    pub(crate) tls_insecure: bool,

    /// With --tls, the server name to ask for and check (default: --host)
    #[arg(long, value_name = "NAME")]
    pub(crate) tls_server_name: Option<String>,

    /// How long a stall lasts, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = defaults::STALL_TIME.as_millis() as u64)]
    pub(crate) stall_ms: u64,

    /// Wait after each acknowledged chunk, in milliseconds, where the server's receive queue
    /// cannot be seen (a server on another machine) and no --cycle-ms is given
    #[arg(long, value_name = "MS", default_value_t = defaults::GAP.as_millis() as u64)]
    pub(crate) pause_ms: u64,

    /// Start this server and stop it at the end, e.g. 'myserver --listen {addr}' ({addr},
    /// {host} and {port} are filled in; split like a shell would). Default: fuzz a server that
    /// is already running
    #[arg(long, value_name = "'CMD ARGS'")]
    pub(crate) server: Option<String>,

    /// How long the server may take to accept connections, when started and when checked
    /// alone after connects under load timed out
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) startup_timeout: Duration,

    /// Stop cleanly after this long, e.g. 500ms, 30s, 2m. Default: run until interrupted
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// Stop cleanly after every blob was delivered N times (the library's .cycles(n)).
    /// Default: no limit
    #[arg(long, value_name = "N", visible_alias = "cycles")]
    pub(crate) rounds: Option<u64>,

    /// Seed of the split patterns (decimal or 0x hex). Default: random, printed in reports
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<Seed>,

    /// Run shard K of N (K from 1): with one --seed, the shards deliver disjoint rounds of one
    /// run, so machines sharing a campaign never repeat each other's cases
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<stutterfuzz::Shard>,

    /// Replay a case instead of fuzzing: a case string from a report (v1:BLOB:SIZES, v2:...) or the
    /// path of a failure file. Exit 1 if it still fails, 0 if not
    #[arg(long, value_name = "CASE|FILE")]
    pub(crate) replay: Option<String>,

    /// Send each blob whole first and record the response; every split delivery of it must
    /// get the same bytes and the same end (closed or open). On by default
    #[arg(long, overrides_with = "no_expect_same_response")]
    pub(crate) expect_same_response: bool,

    /// Do not compare answers with the blob's sent whole: only the server's death, refusals,
    /// hangs and alarms in its output count (for answers that change with every delivery in
    /// ways no --mask can name)
    #[arg(long, overrides_with = "expect_same_response")]
    pub(crate) no_expect_same_response: bool,

    /// Leave the parts of answers matching the regular
    /// expression PATTERN out of the comparison (repeatable), e.g. 'Date: [^\r]*'
    #[arg(long, value_name = "PATTERN")]
    pub(crate) mask: Vec<String>,

    /// Never deliver one blob twice at the same time (at most one connection per blob)
    #[arg(long)]
    pub(crate) isolate_blobs: bool,

    /// Go on after each finding (confirmed, narrowed, saved) on a fresh server until the
    /// budget ends, and list the distinct findings at the end (one failure file each); exit 1
    /// if there were any
    #[arg(long)]
    pub(crate) keep_going: bool,

    /// A file of known findings, one signature a line (as failure files' `# signature:`
    /// lines show them): those are counted, not reported, and the run goes on
    #[arg(long, value_name = "FILE")]
    pub(crate) known: Option<std::path::PathBuf>,

    /// After the last chunk, the server must complete its response within MS milliseconds,
    /// or it is a finding: it closes, or (on a connection it keeps open) the answer reaches
    /// the length of the blob's answer sent whole. Default: off
    #[arg(long, value_name = "MS")]
    pub(crate) response_timeout: Option<u64>,

    /// A line of the started server's output containing TEXT is a finding (repeatable; on by
    /// default for sanitizer reports, Rust panics and valgrind errors)
    #[arg(long, value_name = "TEXT")]
    pub(crate) fail_on_output: Vec<String>,

    /// A line of the server's output containing TEXT is never a finding (repeatable)
    #[arg(long, value_name = "TEXT")]
    pub(crate) ignore_output: Vec<String>,

    /// Write one line per finished delivery to FILE: local port, chunk sizes the kernel
    /// accepted, blob length, blob name
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,

    /// Where each finding is saved as a file (report and case strings) before exiting
    #[arg(long, value_name = "DIR", default_value = "stutterfuzz-failures")]
    pub(crate) failures_dir: PathBuf,

    /// Print the stats line with the original tool's fields (rounds, mean_cycles_to_connect,
    /// ready_to_send) and every counter, instead of the line for people
    #[arg(long)]
    pub(crate) original_stats: bool,

    /// Print only errors and findings
    #[arg(long, short, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Also print the settings and the server's command line
    #[arg(long, short)]
    pub(crate) verbose: bool,
}

impl Args {
    /// What happens to some deliveries besides the cuts, as the options say.
    pub(crate) fn disruptions(&self) -> Disruptions {
        Disruptions::default()
            .close(Chance::one_in(self.close_chance))
            .fastopen(Chance::one_in(self.fastopen_chance))
            .stall(Chance::one_in(self.stall_chance))
            .stall_time(Duration::from_millis(self.stall_ms))
            .slow_read(Chance::one_in(self.slow_read_chance))
    }

    /// The gap between chunks, as the options say (before `--cycle-ms`).
    pub(crate) fn pacing(&self) -> Pacing {
        Pacing::Adaptive {
            fallback: Duration::from_millis(self.pause_ms),
        }
    }

    /// The run's timeouts, as the options say.
    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts::default().startup(self.startup_timeout)
    }

    /// Parses the process's arguments, accepting the original tool's single-dash long
    /// options. Usage errors exit with status 2 (clap's), `--help` and `--version` with 0.
    pub(crate) fn from_env() -> Args {
        Args::parse_from(accept_single_dash(std::env::args_os()))
    }

    /// `host:port` (IPv6 addresses in brackets) or `unix:path`, as the library takes it.
    pub(crate) fn address(&self) -> String {
        if let Some(path) = &self.unix {
            return format!("unix:{path}");
        }
        let host = self.host.as_deref().unwrap_or_default().trim();
        let port = self.port.unwrap_or_default();
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

/// Rewrites `-blob-dir=PATH` to `--blob-dir=PATH` for every long option this command has,
/// as the original tool (getopt_long_only) accepted both. Short flags (`-q`) and anything
/// after `--` pass unchanged.
pub(crate) fn accept_single_dash(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let command = Args::command();
    let longs: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .collect();
    let mut out = Vec::new();
    let mut rest_verbatim = false;
    for arg in args {
        let rewritten = match arg.to_str() {
            _ if rest_verbatim => None,
            Some("--") => {
                rest_verbatim = true;
                None
            }
            Some(text) if text.starts_with('-') && !text.starts_with("--") => {
                let name = text[1..].split('=').next().unwrap_or("");
                (name.len() > 1 && longs.contains(&name))
                    .then(|| OsString::from(format!("-{text}")))
            }
            _ => None,
        };
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let all = std::iter::once("stutterfuzz")
            .chain(args.iter().copied())
            .map(OsString::from);
        Args::try_parse_from(accept_single_dash(all))
    }

    #[test]
    fn original_forms_parse() {
        for form in [
            &["--blob-dir=b", "--host=::1", "--port=6789"][..],
            &["--blob-dir", "b", "--host", "::1", "--port", "6789"],
            &["-blob-dir=b", "-host=::1", "-port=6789"],
            &["-blob-dir", "b", "-host", "::1", "-port", "6789"],
        ] {
            let args = parse(form).unwrap();
            assert_eq!(args.blob_dir, PathBuf::from("b"));
            assert_eq!(args.address(), "[::1]:6789");
            assert_eq!(
                (args.num_conns, args.fastopen_chance, args.close_chance),
                (100, 2, 500)
            );
            assert_eq!(args.cycle_ms, None);
        }
        let args = parse(&[
            "-blob-dir=b",
            "-host=127.0.0.1",
            "-port=1",
            "-cycle-ms=150",
            "-num-conns=7",
            "-q",
        ])
        .unwrap();
        assert_eq!(
            (args.cycle_ms, args.num_conns, args.quiet),
            (Some(150), 7, true)
        );
        assert_eq!(args.address(), "127.0.0.1:1");
    }

    #[test]
    fn the_command_lines_defaults_are_the_librarys() {
        let args = parse(&["--blob-dir=b", "--host=::1", "--port=1"]).unwrap();
        assert_eq!(args.disruptions(), Disruptions::default());
        assert_eq!(args.pacing(), Pacing::default());
        assert_eq!(args.timeouts(), Timeouts::default());
        assert_eq!(args.num_conns, defaults::CONNECTIONS);
    }

    #[test]
    fn missing_required_options_are_usage_errors() {
        let err = parse(&["--host=::1", "--port=1"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--blob-dir"), "{err}");
        assert!(parse(&["--blob-dir=b", "--host=h", "--port=70000"]).is_err());
    }
}

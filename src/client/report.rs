//! What a client run tells its user: a report when nothing was found, a finding that names
//! the case and its narrowed form with the line that replays it, or why it could not run.

use std::fmt;
use std::time::Duration;

use super::case::ClientCase;
use super::judge::ClientFindingKind;
use crate::error::SetupError;
use crate::report::format::difference_window;
use crate::report::{Findings, Listed};
use crate::rng::Seed;

/// What a client run did, when it found nothing.
#[derive(Clone, Debug)]
pub struct ClientReport {
    pub(crate) seed: Seed,
    pub(crate) runs: u64,
    pub(crate) boundaries: u64,
    /// Cuts made inside TLS, after a client started it (STARTTLS).
    pub(crate) boundaries_in_tls: u64,
    pub(crate) kept: u64,
    pub(crate) unconfirmed: u64,
    pub(crate) unconfirmed_cases: Vec<String>,
    /// What the user should know about how the run went (tries that share a server).
    pub(crate) notes: Vec<String>,
    pub(crate) elapsed: Duration,
    pub(crate) replayed: Option<ClientCase>,
    /// In a run that keeps going: the distinct findings so far, and every finding met.
    pub(crate) findings_distinct: u64,
    pub(crate) findings_met: u64,
}

impl ClientReport {
    /// What the run noticed for the user, such as tries that share one server's state.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// How many times the client ran with its answers cut (the whole runs not counted).
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// How many cuts the answers reached the client with.
    pub fn boundaries(&self) -> u64 {
        self.boundaries
    }

    /// How many of those cuts were made inside TLS, after the client started it (STARTTLS),
    /// each chunk its own TLS record.
    pub fn boundaries_in_tls(&self) -> u64 {
        self.boundaries_in_tls
    }

    /// The share of cuts the client had read up to before the next chunk was written (its
    /// reads were each one chunk): 1.0 where its socket can be seen and it reads.
    pub fn fidelity(&self) -> f64 {
        if self.boundaries == 0 {
            return 1.0;
        }
        self.kept as f64 / self.boundaries as f64
    }

    /// Failures that did not fail again when tried alone (not reported as bugs).
    pub fn unconfirmed(&self) -> u64 {
        self.unconfirmed
    }

    /// The seed the run drew its cases from.
    pub fn seed(&self) -> Seed {
        self.seed
    }
}

impl fmt::Display for ClientReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(case) = &self.replayed {
            return write!(f, "replayed {case}: the client passed");
        }
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        write!(
            f,
            "client runs={} ({:.0}/s), cuts={}",
            self.runs,
            self.runs as f64 / secs,
            self.boundaries,
        )?;
        if self.boundaries_in_tls > 0 {
            write!(f, " ({} inside TLS)", self.boundaries_in_tls)?;
        }
        write!(
            f,
            ", read alone={:.1}%, unconfirmed={}, ",
            self.fidelity() * 100.0,
            self.unconfirmed,
        )?;
        if self.findings_met > 0 {
            write!(
                f,
                "findings={} distinct of {}, ",
                self.findings_distinct, self.findings_met
            )?;
        }
        write!(f, "seed={}", self.seed)?;
        if !self.unconfirmed_cases.is_empty() {
            write!(f, " ({})", self.unconfirmed_cases.join(" "))?;
        }
        for note in &self.notes {
            write!(f, "\nnote: {note}")?;
        }
        Ok(())
    }
}

/// A bug found in the client.
#[derive(Clone, Debug)]
pub struct ClientFinding {
    pub(crate) kind: ClientFindingKind,
    pub(crate) case: ClientCase,
    pub(crate) minimal: ClientCase,
    pub(crate) client: String,
    pub(crate) answers: String,
    pub(crate) whole_output: Vec<u8>,
    pub(crate) split_output: Vec<u8>,
    pub(crate) stderr: String,
    pub(crate) seed: Seed,
    pub(crate) runs: u64,
    pub(crate) notes: Vec<String>,
    /// The minimal case's answers as the client received them, each cut marked.
    pub(crate) answers_view: Option<String>,
    /// Found by replaying the case once, not confirmed alone.
    pub(crate) replayed: bool,
    /// What tells it from another finding of a run that keeps going.
    pub(crate) signature: String,
}

impl ClientFinding {
    /// What tells this finding from another: its kind, and where the client said it failed
    /// (`the client exited with status 101 at src/main.rs:40`) or the answer record the
    /// minimal case cuts (`the client hung in $<n>`). A run that keeps going reports each
    /// signature once; a known-findings file lists them
    /// ([`StutterClient::known`](crate::StutterClient::known)).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// What went wrong.
    pub fn kind(&self) -> &ClientFindingKind {
        &self.kind
    }

    /// The case that failed first.
    pub fn case(&self) -> &ClientCase {
        &self.case
    }

    /// The case narrowed to fewest cuts, each as early as it still fails.
    pub fn minimal(&self) -> &ClientCase {
        &self.minimal
    }
}

impl Listed for ClientFinding {
    type Run = ClientReport;

    fn signature(&self) -> &str {
        &self.signature
    }

    fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(view) = &self.answers_view {
            lines.push(format!("minimal = {view}"));
        }
        lines.push(format!("replay  = --replay '{}'", self.minimal));
        lines
    }

    fn closing_line(run: &ClientReport) -> String {
        run.to_string()
    }
}

/// Up to `limit` bytes of `bytes` as one quoted line.
fn quoted(bytes: &[u8], limit: usize) -> String {
    let shown = &bytes[..bytes.len().min(limit)];
    let more = if bytes.len() > limit { " ..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(shown))
}

impl fmt::Display for ClientFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_headline(f)?;
        self.write_case(f)?;
        self.write_outputs(f)?;
        self.write_closing(f)
    }
}

impl ClientFinding {
    /// The first line: a client bug, or one that shows only with the requests cut (then the
    /// server is the one to look at).
    fn write_headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chunks = self.minimal.answers().chunks();
        if chunks.len() > 1 || self.minimal.requests().is_none() {
            writeln!(f, "stutterfuzz found a client bug: {}", self.kind)
        } else {
            // Only the requests are cut: what reads them whole is the server.
            writeln!(
                f,
                "stutterfuzz found a bug with the client's requests cut, the answers whole (look at the server): {}",
                self.kind
            )
        }
    }

    /// The client, its answers and the case that fails: how the answers (and requests) were
    /// cut, the case as found when narrowing changed it, and the notes.
    fn write_case(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chunks = self.minimal.answers().chunks();
        writeln!(f, "  client:   {}", self.client)?;
        writeln!(f, "  answers:  {}", self.answers)?;
        // A replayed case is shown as it was given, not as one narrowed.
        let label = if self.replayed {
            "replayed:"
        } else {
            "minimal: "
        };
        if chunks.len() > 1 {
            writeln!(
                f,
                "  {label} the answers in {} chunks {} (first cut after byte {})",
                chunks.len(),
                self.minimal.answers(),
                chunks[0]
            )?;
        } else {
            writeln!(f, "  {label} the answers whole {}", self.minimal.answers())?;
        }
        if let Some(view) = &self.answers_view {
            let legend = crate::case::legend(view);
            writeln!(f, "            {view}   {legend}")?;
        }
        if let Some(requests) = self.minimal.requests() {
            writeln!(
                f,
                "  requests: the client's bytes reached the server in {} chunk{} {requests}",
                requests.len(),
                if requests.len() == 1 { "" } else { "s" }
            )?;
        }
        writeln!(f, "  case:     {}", self.minimal)?;
        if self.case != self.minimal {
            writeln!(f, "  found as: {}", self.case)?;
        }
        for note in &self.notes {
            writeln!(f, "  note:     {note}")?;
        }
        Ok(())
    }

    /// What the client gave with the answers whole and cut: around their first difference
    /// when the outputs differ, else the start of each.
    fn write_outputs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // The two outputs around their first difference, wherever it is in them.
            ClientFindingKind::OutputDiffers { first_difference } => {
                writeln!(
                    f,
                    "  its output with the answers whole ({} bytes) and cut ({} bytes), from the first byte that differs:",
                    self.whole_output.len(),
                    self.split_output.len()
                )?;
                let window =
                    difference_window(&self.whole_output, &self.split_output, *first_difference);
                for line in window {
                    writeln!(f, "{line}")?;
                }
            }
            _ => {
                writeln!(
                    f,
                    "  whole answers, it gave:  {}",
                    quoted(&self.whole_output, 200)
                )?;
                writeln!(
                    f,
                    "  cut answers, it gave:    {}",
                    quoted(&self.split_output, 200)
                )?;
            }
        }
        Ok(())
    }

    /// The client's stderr, how often the case failed, and how to replay it (the last line,
    /// written without a line break).
    fn write_closing(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.stderr.is_empty() {
            writeln!(f, "  its stderr:")?;
            write!(f, "{}", self.stderr)?;
        }
        if self.replayed {
            writeln!(f, "  replayed once: it failed; seed {}", self.seed)?;
        } else {
            writeln!(
                f,
                "  failed 3 of 3 times alone, each after a pass with the answers whole; seed {}, {} runs of the client",
                self.seed, self.runs
            )?;
        }
        write!(
            f,
            "  replay:   STUTTERFUZZ_REPLAY='{0}' in the test's environment, or --replay '{0}' on the command line",
            self.minimal
        )
    }
}

/// Why a client run did not pass.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientFailure {
    /// It could not run; the client was not (fully) tested.
    Setup(SetupError),
    /// The client misbehaved.
    Finding(Box<ClientFinding>),
    /// A run that kept going ([`StutterClient::keep_going`](crate::StutterClient::keep_going))
    /// found these distinct bugs.
    Findings(Box<Findings<ClientFinding>>),
}

impl ClientFailure {
    /// The finding, if this failure is one (the first, of a run that kept going).
    pub fn finding(&self) -> Option<&ClientFinding> {
        match self {
            ClientFailure::Finding(f) => Some(f),
            ClientFailure::Findings(all) => all.distinct.first().map(|d| &d.finding),
            ClientFailure::Setup(_) => None,
        }
    }

    /// Every distinct finding of a run that kept going.
    pub fn findings(&self) -> Option<&Findings<ClientFinding>> {
        match self {
            ClientFailure::Findings(all) => Some(all),
            _ => None,
        }
    }
}

impl fmt::Display for ClientFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientFailure::Setup(e) => write!(f, "stutterfuzz could not run: {e}"),
            ClientFailure::Finding(finding) => finding.fmt(f),
            ClientFailure::Findings(all) => all.fmt(f),
        }
    }
}

impl std::error::Error for ClientFailure {}

impl From<SetupError> for ClientFailure {
    fn from(e: SetupError) -> Self {
        ClientFailure::Setup(e)
    }
}

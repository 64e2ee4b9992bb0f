//! The plan of a run: everything the facade's builder was told, as plain data. The run layer
//! consumes it and never reaches back to the facade; each decision that depends on how the
//! run was called (its settings, where its regression file is, how a case is replayed) is
//! made here, once.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{OutputWatch, PortZero, Requested, Settings, env_var, in_ci};
use crate::control::{KeepGoingFor, ProgressHook, StopHandle};
use crate::corpus::{Blob, Corpus};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::Oracles;
use crate::report::{Rerun, regression};
use crate::server::{ProgramSpec, ServeFn};

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) addr: String,
    pub(crate) server: Option<ProgramSpec>,
    pub(crate) in_process: Option<InProcess>,
    pub(crate) blob_dirs: Vec<PathBuf>,
    pub(crate) inline: Vec<Blob>,
    pub(crate) requested: Requested,
    pub(crate) stop: Option<StopHandle>,
    pub(crate) progress: Option<ProgressHook>,
    /// The user's rerun template, with `{case}` where the case goes.
    pub(crate) rerun: Option<String>,
    pub(crate) oracles: Oracles,
    pub(crate) output: Option<OutputWatch>,
    pub(crate) regressions: Regressions,
    /// Settings given that do not hold (a mask that is no regular expression, a shard outside
    /// its count): each a setup error when the run starts.
    pub(crate) bad_settings: Vec<String>,
    /// Where the delivery log goes (`.record(path)`).
    pub(crate) delivery_log: Option<PathBuf>,
    /// TLS to the server (`.tls(...)`).
    pub(crate) tls: Option<crate::tls::TlsOptions>,
    /// Deliveries for a fuzz target: judged quickly, paced by receipt (`run::fuzz_target`).
    pub(crate) for_fuzzer: bool,
    /// Whether to go on after findings, past which known ones, and what hears each new one
    /// (`.keep_going(...)`).
    pub(crate) keep_going: KeepGoingFor<crate::Finding>,
}

/// The longest a fuzzer's input waits after its last chunk for the server's answer, close or
/// exit: a fuzzer's speed is its inputs per second.
pub(crate) const FUZZER_AFTER_LAST: Duration = Duration::from_millis(5);

/// An in-process server's future, as the plan keeps it.
#[derive(Clone)]
pub(crate) struct InProcess(pub(crate) ServeFn);

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InProcess(..)")
    }
}

/// Where findings are recorded, one line per case, and replayed first on every later run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Regressions {
    /// `stutterfuzz-regressions/<test name>.txt` (`<test name>-client.txt` for clients) in
    /// the crate being tested, when the run is called from a test: commit it, so a fixed bug
    /// stays fixed. Under `CI` the lines are only shown in the report (a CI checkout is
    /// thrown away), unless `STUTTERFUZZ_SAVE_REGRESSIONS` is set.
    #[default]
    Beside,
    /// This file, always written.
    At(PathBuf),
    /// Nowhere: findings are not recorded, and nothing recorded is replayed.
    Off,
}

impl Regressions {
    /// This file, always written.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Regressions::At(path.into())
    }

    /// The file of a run called from thread `caller` (a test's thread bears its name), the
    /// default one named for the test and `role` (`""` for a server, `"-client"` for a
    /// client), and whether a finding is written to it.
    pub(crate) fn file(&self, caller: Option<&str>, role: &str) -> Option<RegressionFile> {
        let path = match self {
            Regressions::Off => return None,
            Regressions::At(path) => path.clone(),
            Regressions::Beside => {
                let test = caller.filter(|name| *name != "main")?;
                let dir = std::env::var_os("CARGO_MANIFEST_DIR")
                    .map(PathBuf::from)
                    .or_else(|| std::env::current_dir().ok())?;
                regression::default_path(&dir, &format!("{test}{role}"))
            }
        };
        let asked = env_var("STUTTERFUZZ_SAVE_REGRESSIONS").is_some();
        let explicit = matches!(self, Regressions::At(_));
        Some(RegressionFile {
            path,
            write: writes_regressions(in_ci(), asked, explicit),
        })
    }
}

/// Whether a finding is written to the regression file: always when the file was named in
/// code (`Regressions::At`), otherwise not under CI unless `STUTTERFUZZ_SAVE_REGRESSIONS`
/// asks for it (a CI checkout is thrown away; the line is shown in the report instead).
fn writes_regressions(in_ci: bool, asked: bool, explicit: bool) -> bool {
    explicit || asked || !in_ci
}

/// A run's regression file, and whether a finding is written to it: a file named in code
/// always is; the default one, under `CI`, only when `STUTTERFUZZ_SAVE_REGRESSIONS` is set
/// (a CI checkout is thrown away).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegressionFile {
    pub(crate) path: PathBuf,
    pub(crate) write: bool,
}

/// How the server under test comes to be.
#[derive(Clone, Copy)]
pub(crate) enum Launch<'a> {
    /// The harness spawns this command.
    Command(&'a ProgramSpec),
    /// The harness runs this future on a listener it binds.
    InProcess(&'a ServeFn),
    /// It is already running.
    External,
}

impl Plan {
    /// A plan to fuzz the server at `addr`, with every default.
    pub(crate) fn new(addr: String) -> Self {
        Plan {
            addr,
            server: None,
            in_process: None,
            blob_dirs: Vec::new(),
            inline: Vec::new(),
            requested: Requested::default(),
            stop: None,
            progress: None,
            rerun: None,
            oracles: Oracles::by_default(),
            output: Some(OutputWatch::default()),
            regressions: Regressions::default(),
            bad_settings: Vec::new(),
            delivery_log: None,
            tls: None,
            for_fuzzer: false,
            keep_going: KeepGoingFor::default(),
        }
    }

    /// The settings of a run with this time budget, the `STUTTERFUZZ_*` variables laid over
    /// them.
    pub(crate) fn settings(&self, budget: Duration) -> Result<Settings, SetupError> {
        if let Some(error) = self.bad_settings.first() {
            return Err(SetupError::new(SetupErrorKind::Settings, error.clone()));
        }
        let mut settings = Settings::resolve(&self.requested, budget, env_var)?;
        settings.tls = self.tls.is_some();
        if self.for_fuzzer {
            settings.after_last = Some(FUZZER_AFTER_LAST);
        }
        Ok(settings)
    }

    /// The blobs.
    pub(crate) fn corpus(&self) -> Result<Corpus, SetupError> {
        Corpus::load(&self.blob_dirs, &self.inline)
    }

    /// The blobs, read on a blocking task (inside a run, never on a runtime thread).
    pub(crate) async fn load_corpus(&self) -> Result<Corpus, SetupError> {
        let (dirs, inline) = (self.blob_dirs.clone(), self.inline.clone());
        let corpus = tokio::task::spawn_blocking(move || Corpus::load(&dirs, &inline))
            .await
            .unwrap_or_else(|e| {
                Err(SetupError::new(
                    SetupErrorKind::Harness,
                    format!("loading the blobs did not finish: {e}"),
                ))
            })?;
        if let Some(blob) = corpus.marking_tls()
            && self.tls.is_none()
        {
            return Err(SetupError::new(
                SetupErrorKind::Settings,
                format!(
                    "blob {} starts TLS mid-conversation (`#~ tls`), but no TLS settings were given: say whom to trust, .tls(TlsOptions::with_ca(path)) / --tls --tls-ca FILE, or for a test server .tls(TlsOptions::insecure()) / --tls --tls-insecure",
                    blob.origin()
                ),
            ));
        }
        Ok(corpus)
    }

    /// How this run's server comes to be (an in-process server wins over a command).
    pub(crate) fn launch(&self) -> Launch<'_> {
        match (&self.in_process, &self.server) {
            (Some(InProcess(serve)), _) => Launch::InProcess(serve),
            (None, Some(spec)) => Launch::Command(spec),
            (None, None) => Launch::External,
        }
    }

    /// What port 0 in the address means for this run.
    pub(crate) fn port_zero(&self) -> PortZero {
        match self.launch() {
            Launch::InProcess(_) => PortZero::Keep,
            Launch::Command(_) => PortZero::Pick,
            Launch::External => PortZero::Refuse,
        }
    }

    /// True when the harness picks the port of the server it spawns (port 0).
    pub(crate) fn picks_port(&self) -> bool {
        self.port_zero() == PortZero::Pick
            && self
                .addr
                .rsplit_once(':')
                .is_some_and(|(_, port)| port.trim() == "0")
    }

    /// What this run counts as a bug, as a list in words: the command line's first lines and
    /// the report of a run that found nothing say it.
    pub(crate) fn checks(&self) -> String {
        let mut checks = vec![
            "the server's death",
            "refused or unaccepted connects",
            "hangs",
            "HTTP/2 and WebSocket protocol failures",
        ];
        let watches_output = self.output.as_ref().is_some_and(|o| !o.fail_on.is_empty());
        if watches_output && !matches!(self.launch(), Launch::External) {
            checks.push("alarms in its output (panics, sanitizers)");
        }
        if self.oracles.same_as_whole {
            checks.push("answers that change when split");
        }
        if self.oracles.response_timeout.is_some() {
            checks.push("answers that come late");
        }
        if self.oracles.check.is_some() {
            checks.push("your check of each answer");
        }
        checks.join(", ")
    }

    /// The regression file of a run called from thread `caller`.
    pub(crate) fn regression_file(&self, caller: Option<&str>) -> Option<RegressionFile> {
        self.regressions.file(caller, "")
    }

    /// How a report of a run called from thread `caller` says to replay a case.
    pub(crate) fn rerun(&self, caller: Option<&str>) -> Rerun {
        if let Some(template) = &self.rerun {
            return Rerun::from_template(template);
        }
        match caller {
            Some(test) if test != "main" => Rerun::with_env(&format!("cargo test {test}")),
            _ => {
                let argv: Vec<String> = std::env::args().collect();
                Rerun::with_env(&argv.join(" "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_lines_are_written_outside_ci_or_when_asked() {
        assert!(writes_regressions(false, false, false), "a developer's run");
        assert!(
            !writes_regressions(true, false, false),
            "CI shows the line instead"
        );
        assert!(
            writes_regressions(true, true, false),
            "STUTTERFUZZ_SAVE_REGRESSIONS"
        );
        assert!(
            writes_regressions(true, false, true),
            "a file named in code"
        );
    }
}

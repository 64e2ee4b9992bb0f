//! One run from start to report: resolve the settings, start the server, record baselines,
//! replay a case or the recorded regressions, fuzz, narrow a finding to its culprit, record
//! it, and stop the server whatever happened.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::driving::{Driving, Outcome};
use super::narrow;
use super::plan::{Plan, RegressionFile};
use super::regressions;
use super::replay;
use super::rig::Rig;
use crate::config::Settings;
use crate::control::RunEnd;
use crate::corpus::{Blob, Corpus};
use crate::engine::Found;
use crate::engine::exit_waits::REFUSED_EXIT_WAIT;
use crate::error::SetupError;
use crate::limits;
use crate::oracle::{self, Baseline, FindingKind};
use crate::report::{Failure, Finding, Narrowed, NotNarrowed, RegressionNote, Report, signature};
use crate::rng::Seed;
use crate::server::{Exit, ServerSummary, TaskEnd};
use crate::stats::Stats;

/// The least narrowing a finding of a run that keeps going gets, however little is left.
const NARROW_FLOOR: Duration = Duration::from_secs(5);

/// A run going on after findings: the seed of its next part, and the signatures found so
/// far (a finding met again is counted, not narrowed again).
pub(crate) struct Next<'a> {
    /// `None` for the run's first part (its own seed).
    pub(crate) seed: Option<Seed>,
    pub(crate) known: &'a [String],
    /// At most this many connections in flight.
    pub(crate) connections: Option<usize>,
}

/// Runs `plan` with a time budget; `caller` is the name of the calling thread (the test).
/// A run going on after a finding (`next`) uses its seed, and leaves the recorded
/// regressions, replayed when the run began, alone.
pub(crate) async fn run(
    plan: &Plan,
    budget: Duration,
    caller: Option<&str>,
    next: Option<Next<'_>>,
) -> Result<Report, Failure> {
    let (mut settings, notes) = settings_for(plan, budget, next.as_ref())?;
    let going_on = next.as_ref().and_then(|next| next.seed);
    let corpus = plan.load_corpus().await?;
    settings.tls_at_marks = corpus.marking_tls().is_some();
    let replay_blob = match &settings.replay {
        Some(case) => Some(replay::blob_for(case, &corpus, settings.tls)?),
        None => None,
    };
    let regressions = match settings.replay {
        Some(_) => None,
        None => plan.regression_file(caller),
    };
    let mut rig = Rig::start(plan, &settings).await?;
    let addr = rig.transport().describe();
    let mut baselines = HashMap::new();
    let driving = Driving {
        plan,
        settings: &settings,
        corpus: &corpus,
        replay_blob: replay_blob.as_ref(),
        regressions: regressions
            .as_ref()
            .filter(|_| going_on.is_none())
            .map(|file| file.path.as_path()),
    };
    let mut outcome = driving.drive(&mut rig, &mut baselines).await;
    let (summary, died_at_stop) = end_server(&mut rig, &mut outcome, &baselines).await?;
    let ending = Ending {
        plan,
        caller,
        known: next.map(|next| next.known),
        settings: &settings,
        corpus: &corpus,
        baselines: &baselines,
        regressions,
        addr,
        summary,
        notes,
    };
    ending.report(&mut rig, outcome, died_at_stop).await
}

/// The plan's settings for this run: a run that keeps going takes its part's seed, narrows
/// for no longer than its budget (yet a few seconds at least) and keeps to its cap on
/// connections; then the connections fitted to what the system allows, with a note when
/// they were lowered.
fn settings_for(
    plan: &Plan,
    budget: Duration,
    next: Option<&Next<'_>>,
) -> Result<(Settings, Vec<String>), SetupError> {
    let mut settings = plan.settings(budget)?;
    let going_on = next.and_then(|next| next.seed);
    if let Some(seed) = going_on {
        settings.seed = seed;
    }
    // A run that keeps going ends near its budget: narrowing takes what is left of it, yet
    // a finding made in its last seconds is still narrowed for a few.
    if next.is_some() {
        settings.shrink.time = settings.shrink.time.min(budget.max(NARROW_FLOOR));
    }
    if let Some(most) = next.and_then(|next| next.connections) {
        settings.connections = settings.connections.min(most);
    }
    let (connections, notes) = limits::fit_connections(settings.connections);
    settings.connections = connections;
    Ok((settings, notes))
}

/// A finding the run made, and where it came from.
struct Failed {
    found: Found,
    /// The attempt that failed, when replaying a case.
    replay: Option<u32>,
    /// The regression file whose recorded case failed again.
    regressed: Option<PathBuf>,
    /// A run that keeps going has met it before: counted, not narrowed or recorded again.
    met_before: bool,
}

/// A run whose server has stopped: what its report, or its finding, is made of.
struct Ending<'a> {
    plan: &'a Plan,
    caller: Option<&'a str>,
    /// The signatures a run that keeps going has found so far; `None` for a run that does
    /// not keep going.
    known: Option<&'a [String]>,
    settings: &'a Settings,
    corpus: &'a Corpus,
    baselines: &'a HashMap<String, Baseline>,
    /// The regression file, replayed when the run began and appended a new finding.
    regressions: Option<RegressionFile>,
    /// Where the server was reached.
    addr: String,
    summary: Option<ServerSummary>,
    notes: Vec<String>,
}

impl Ending<'_> {
    /// The run's report when it passed (or its finding did not hold up); else its finding,
    /// narrowed unless it was replayed, recorded or met before, and recorded as a regression
    /// when new.
    async fn report(
        mut self,
        rig: &mut Rig<'_>,
        outcome: Result<Outcome, SetupError>,
        died_at_stop: Option<Exit>,
    ) -> Result<Report, Failure> {
        // Traces printed as the server died are the finding's own evidence, not a hint.
        let died =
            matches!(&outcome, Ok(Outcome::Found { found, .. }) if found.kind.treatment().ended);
        if !died {
            self.notes
                .extend(self.summary.as_ref().and_then(ServerSummary::trace_hint));
        }
        let (found, replay, regressed) = match outcome? {
            Outcome::Passed { stats, end } => match died_at_stop {
                None => return Ok(self.passed(stats, end)),
                // The server died between the last check and the stop.
                Some(exit) => (
                    Found {
                        kind: oracle::exited(exit),
                        seen: Vec::new(),
                        stats,
                    },
                    None,
                    None,
                ),
            },
            Outcome::Found {
                found,
                replay,
                regressed,
            } => (found, replay, regressed),
        };
        let met_before = self.met_before(&found);
        let failed = Failed {
            found,
            replay,
            regressed,
            met_before,
        };
        // A replayed case, or one recorded in the regression file, is already as small as it was.
        let (narrowed, narrowing) =
            if failed.replay.is_some() || failed.regressed.is_some() || failed.met_before {
                (None, None)
            } else {
                let (narrowed, took) = self.narrow(rig, &failed.found).await;
                (Some(narrowed), Some(took))
            };
        if oracle::gated(&failed.found.kind)
            && let Some(why) = narrowed.as_ref().and_then(disowned)
        {
            let server_pid = self.server_pid();
            return Ok(unconfirmed(
                failed.found,
                why,
                self.notes,
                self.settings.seed,
                server_pid,
                self.plan,
            ));
        }
        Err(self.into_finding(failed, narrowed, narrowing).await)
    }

    /// The process id of the server, when it was a process.
    fn server_pid(&self) -> Option<u32> {
        self.summary.as_ref().and_then(|s| s.pid)
    }

    /// The report of a run that found nothing.
    fn passed(self, stats: Stats, end: RunEnd) -> Report {
        let server_pid = self.server_pid();
        Report {
            stats,
            seed: self.settings.seed,
            notes: self.notes,
            end,
            replayed: self.settings.replay.clone().map(|c| (c, replay::ATTEMPTS)),
            server_pid,
            checks: self.plan.checks(),
        }
    }

    /// True when a run that keeps going has met this finding before, as far as its
    /// signature before narrowing tells.
    fn met_before(&self, found: &Found) -> bool {
        let first_blob = found
            .seen
            .first()
            .and_then(|seen| Some((&seen.case, self.corpus.find(seen.case.blob())?.bytes())));
        self.known.is_some_and(|known| {
            let signature = signature::of(&found.kind, self.summary.as_ref(), first_blob);
            known.contains(&signature)
        })
    }

    /// Narrows the finding within the shrink budget (a restart that fails is said as the
    /// reason it was not), then stops the server: what narrowing came to, and how long it
    /// took of how long it had.
    async fn narrow(&self, rig: &mut Rig<'_>, found: &Found) -> (Narrowed, (Duration, Duration)) {
        let started = std::time::Instant::now();
        rig.crash_places = self
            .summary
            .as_ref()
            .map(signature::places)
            .unwrap_or_default();
        let narrowed = narrow::narrow(
            rig,
            &found.kind,
            &found.seen,
            self.corpus,
            self.baselines,
            self.settings.shrink,
        )
        .await
        .unwrap_or_else(|e| Narrowed::NotTried(NotNarrowed::RestartFailed(e.to_string())));
        rig.stop().await;
        (narrowed, (started.elapsed(), self.settings.shrink.time))
    }

    /// The finding as reported: signed, its suspects shown, with the server's summary, the
    /// narrowing and the notes; a new one (not replayed, not met before) recorded in the
    /// regression file.
    async fn into_finding(
        self,
        failed: Failed,
        narrowed: Option<Narrowed>,
        narrowing: Option<(Duration, Duration)>,
    ) -> Failure {
        let Failed {
            found,
            replay,
            regressed,
            met_before,
        } = failed;
        let mut finding = Finding::new(
            found.kind,
            found.seen,
            found.stats,
            self.settings.seed,
            self.addr,
            self.plan.rerun(self.caller),
        );
        finding.server = self.summary;
        finding.replay = replay.map(|attempt| (attempt, replay::ATTEMPTS));
        finding.set_narrowed(narrowed);
        let blob = finding
            .best_case()
            .and_then(|case| self.corpus.find(case.blob()))
            .map(Blob::bytes);
        finding.sign(blob);
        finding.view_suspects(|name| self.corpus.find(name).map(Blob::bytes));
        finding.narrowing = narrowing;
        finding.notes = self.notes;
        finding.regression = match (regressed, &self.regressions, replay) {
            (Some(path), _, _) => Some(RegressionNote::Regressed(path)),
            (None, Some(file), None) if !met_before => {
                regressions::record(&finding, self.corpus, &file.path, file.write, self.caller)
                    .await
            }
            _ => None,
        };
        finding.into()
    }
}

/// The report of a run whose finding about an answer did not hold up (narrowing could not
/// make it fail again alone, or only with the blob sent whole): not reported, but counted
/// and noted.
fn unconfirmed(
    found: Found,
    why: &str,
    mut notes: Vec<String>,
    seed: Seed,
    server_pid: Option<u32>,
    plan: &Plan,
) -> Report {
    let mut stats = found.stats;
    stats.unconfirmed += 1;
    let brief = found.kind.brief();
    stats.unconfirmed_cases.extend(
        found
            .seen
            .first()
            .map(|s| format!("{} ({brief}; {why})", s.case)),
    );
    notes.push(format!("{} (not reported: {why})", found.kind.headline()));
    Report {
        stats,
        seed,
        notes,
        end: RunEnd::Unconfirmed,
        replayed: None,
        server_pid,
        checks: plan.checks(),
    }
}

/// Why narrowing disowns a finding about an answer, if it does.
fn disowned(narrowed: &Narrowed) -> Option<&'static str> {
    match narrowed {
        Narrowed::NoneAlone { .. } => Some("no suspect failed again alone"),
        Narrowed::Unsplit { .. } => Some(
            "its blob sent whole, in one write, fails the same way, so no boundary is to blame",
        ),
        // The last replays decide: a minimal case that never failed in them is no finding.
        Narrowed::Culprit {
            reproduced: (0, _), ..
        } => Some("its minimal case failed none of the times it was replayed at the end"),
        _ => None,
    }
}

/// Stops the server after the run, and reads its end into the outcome: a server that went
/// into the background, or ended on its own having served nobody, is a setup error; a
/// connect refused by a server that died is that death. What a report shows of the server,
/// and how it ended when it ended on its own.
async fn end_server(
    rig: &mut Rig<'_>,
    outcome: &mut Result<Outcome, SetupError>,
    baselines: &HashMap<String, Baseline>,
) -> Result<(Option<ServerSummary>, Option<Exit>), Failure> {
    // A server that exited 0 while something it started still listens went into the
    // background (its parent left just after the daemon was ready): not a finding.
    if let Ok(Outcome::Found { found, .. }) = &*outcome
        && matches!(&found.kind, FindingKind::ServerDied { status } if status.success())
        && let Some(error) = rig.went_background().await
    {
        rig.stop().await;
        return Err(error.into());
    }
    // A refused connect may come from a server that is ending (its socket closes a moment
    // before the process ends), and so may anything from one that served nobody.
    let exiting = match (&*outcome, rig.server()) {
        (Ok(Outcome::Found { found, .. }), Some(server))
            if matches!(found.kind, FindingKind::ConnectRefused { .. })
                || (found.stats.deliveries == 0 && baselines.is_empty()) =>
        {
            tokio::time::timeout(REFUSED_EXIT_WAIT, server.exited())
                .await
                .ok()
        }
        _ => None,
    };
    let (summary, died_at_stop) = match rig.stop().await {
        Some((summary, died)) => (Some(summary), died),
        None => (None, None),
    };
    let ended = exiting.or_else(|| died_at_stop.clone());
    if let Ok(Outcome::Found { found, .. }) = outcome {
        // Refused by a server that died: the death is the finding, the refusal its echo
        // (one bug met as two kinds would be two findings of a run that keeps going).
        if matches!(found.kind, FindingKind::ConnectRefused { .. })
            && let Some(exit) = ended.clone()
        {
            found.kind = oracle::exited(exit);
        }
        if let Some(summary) = &summary
            && let Some(exit) = served_nobody(found, baselines, ended.as_ref())
        {
            return Err(crate::server::served_nobody(exit, summary).into());
        }
    }
    Ok((summary, died_at_stop))
}

/// How the server ended, when it ended on its own, cleanly, before it served anything: no
/// blob's answer sent whole taken, no delivery begun (a placeholder future that returns, a
/// program that exits 0; what the harness sent sat in its listen queue). That is a setup
/// error, said without narrowing. A death by a signal, a failing status or a panic stays a
/// finding: the bytes of the readiness check or of a blob sent whole may have caused it.
fn served_nobody(
    found: &Found,
    baselines: &HashMap<String, Baseline>,
    died: Option<&Exit>,
) -> Option<Exit> {
    if found.stats.deliveries > 0 || !baselines.is_empty() {
        return None;
    }
    let exit = match &found.kind {
        FindingKind::ServerDied { status } => Exit::Process(*status),
        FindingKind::ServerTaskEnded { panic: None } => Exit::Task(TaskEnd::Returned),
        FindingKind::ConnectRefused { .. } | FindingKind::ConnectTimeout { .. } => died?.clone(),
        _ => return None,
    };
    match &exit {
        Exit::Process(status) if status.success() => Some(exit),
        Exit::Task(TaskEnd::Returned) => Some(exit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Case;
    use crate::report::Reproduced;

    fn culprit(failed: u32) -> Narrowed {
        let case = Case::new("a", "1,4".parse().unwrap());
        let reproduced = Reproduced {
            failed,
            tries: 3,
            evidence: None,
            output: None,
        };
        Narrowed::culprit(case.clone(), case, reproduced, true, b"hello")
    }

    #[test]
    fn a_minimal_case_that_never_failed_in_its_last_replays_is_disowned() {
        assert!(disowned(&culprit(0)).is_some_and(|why| why.contains("failed none")));
        assert_eq!(disowned(&culprit(1)), None);
        assert_eq!(disowned(&culprit(3)), None);
    }
}

//! One run from start to report: resolve the settings, start the server, record baselines,
//! replay a case or the recorded regressions, fuzz, narrow a finding to its culprit, record
//! it, and stop the server whatever happened.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::baselines::take_baselines;
use super::narrow;
use super::plan::Plan;
use super::regressions;
use super::replay;
use super::rig::Rig;
use crate::config::Settings;
use crate::control::RunEnd;
use crate::corpus::{Blob, Corpus};
use crate::delivery_log::DeliveryLog;
use crate::engine::exit_waits::REFUSED_EXIT_WAIT;
use crate::engine::{self, Found, Fuzzing, Seen, Stood, Stopped};
use crate::error::SetupError;
use crate::limits;
use crate::oracle::{self, Baseline, FindingKind};
use crate::report::{Failure, Finding, Narrowed, NotNarrowed, RegressionNote, Report, signature};
use crate::rng::Seed;
use crate::server::{Exit, ServerSummary, TaskEnd};
use crate::stats::Stats;

/// The least narrowing a finding of a run that keeps going gets, however little is left.
const NARROW_FLOOR: Duration = Duration::from_secs(5);

/// How the run itself ended, before reporting.
enum Outcome {
    Passed {
        stats: Stats,
        end: RunEnd,
    },
    Found {
        found: Found,
        /// The attempt that failed, when replaying a case.
        replay: Option<u32>,
        /// The regression file whose recorded case failed again.
        regressed: Option<PathBuf>,
    },
}

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
    let mut settings = plan.settings(budget)?;
    let going_on = next.as_ref().and_then(|next| next.seed);
    if let Some(seed) = going_on {
        settings.seed = seed;
    }
    // A run that keeps going ends near its budget: narrowing takes what is left of it, yet
    // a finding made in its last seconds is still narrowed for a few.
    if next.is_some() {
        settings.shrink.time = settings.shrink.time.min(budget.max(NARROW_FLOOR));
    }
    if let Some(most) = next.as_ref().and_then(|next| next.connections) {
        settings.connections = settings.connections.min(most);
    }
    let (connections, mut notes) = limits::fit_connections(settings.connections);
    settings.connections = connections;
    let corpus = plan.load_corpus().await?;
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
    let mut outcome = drive(
        plan,
        &mut rig,
        &settings,
        &corpus,
        replay_blob.as_ref(),
        regressions
            .as_ref()
            .filter(|_| going_on.is_none())
            .map(|file| file.path.as_path()),
        &mut baselines,
    )
    .await;
    let (summary, died_at_stop) = end_server(&mut rig, &mut outcome, &baselines).await?;
    let server_pid = summary.as_ref().and_then(|s| s.pid);
    // Traces printed as the server died are the finding's own evidence, not a hint.
    let died = matches!(&outcome, Ok(Outcome::Found { found, .. }) if found.kind.treatment().ended);
    if !died {
        notes.extend(summary.as_ref().and_then(ServerSummary::trace_hint));
    }
    let (found, replay, regressed) = match outcome? {
        Outcome::Passed { stats, end } => match died_at_stop {
            None => {
                return Ok(Report {
                    stats,
                    seed: settings.seed,
                    notes,
                    end,
                    replayed: settings.replay.clone().map(|c| (c, replay::ATTEMPTS)),
                    server_pid,
                    checks: plan.checks(),
                });
            }
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

    // A finding a run that keeps going has met before, as far as its signature before
    // narrowing tells: counted, not narrowed or recorded again.
    let first_blob = found
        .seen
        .first()
        .and_then(|seen| Some((&seen.case, corpus.find(seen.case.blob())?.bytes())));
    let met_before = next.as_ref().is_some_and(|next| {
        let signature = signature::of(&found.kind, summary.as_ref(), first_blob);
        next.known.contains(&signature)
    });
    // A replayed case, or one recorded in the regression file, is already as small as it was.
    let (narrowed, narrowing) = if replay.is_some() || regressed.is_some() || met_before {
        (None, None)
    } else {
        let started = std::time::Instant::now();
        rig.crash_places = summary.as_ref().map(signature::places).unwrap_or_default();
        let narrowed = narrow::narrow(
            &mut rig,
            &found.kind,
            &found.seen,
            &corpus,
            &baselines,
            settings.shrink,
        )
        .await
        .unwrap_or_else(|e| Narrowed::NotTried(NotNarrowed::RestartFailed(e.to_string())));
        rig.stop().await;
        (
            Some(narrowed),
            Some((started.elapsed(), settings.shrink.time)),
        )
    };
    if oracle::gated(&found.kind)
        && let Some(why) = narrowed.as_ref().and_then(disowned)
    {
        return Ok(unconfirmed(
            found,
            why,
            notes,
            settings.seed,
            server_pid,
            plan,
        ));
    }
    let mut finding = Finding::new(
        found.kind,
        found.seen,
        found.stats,
        settings.seed,
        addr,
        plan.rerun(caller),
    );
    finding.server = summary;
    finding.replay = replay.map(|attempt| (attempt, replay::ATTEMPTS));
    finding.set_narrowed(narrowed);
    let blob = finding
        .best_case()
        .and_then(|case| corpus.find(case.blob()))
        .map(Blob::bytes);
    finding.sign(blob);
    finding.view_suspects(|name| corpus.find(name).map(Blob::bytes));
    finding.narrowing = narrowing;
    finding.notes = notes;
    finding.regression = match (regressed, &regressions, replay) {
        (Some(path), _, _) => Some(RegressionNote::Regressed(path)),
        (None, Some(file), None) if !met_before => {
            regressions::record(&finding, &corpus, &file.path, file.write, caller).await
        }
        _ => None,
    };
    Err(finding.into())
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

async fn drive(
    plan: &Plan,
    rig: &mut Rig<'_>,
    settings: &Settings,
    corpus: &Corpus,
    replay_blob: Option<&Blob>,
    regressions: Option<&std::path::Path>,
    baselines: &mut HashMap<String, Baseline>,
) -> Result<Outcome, SetupError> {
    if plan.oracles.same_as_whole {
        let only;
        let blobs = match replay_blob {
            Some(blob) => {
                only = Corpus::from_blobs(vec![blob.clone()]);
                &only
            }
            None => corpus,
        };
        match take_baselines(rig, blobs, settings.connections).await {
            Ok(recorded) => *baselines = recorded,
            Err(Stopped::Found(found)) => {
                return Ok(Outcome::Found {
                    found,
                    replay: None,
                    regressed: None,
                });
            }
            Err(Stopped::Setup(e)) => return Err(e),
        }
    }
    if let (Some(case), Some(blob)) = (&settings.replay, replay_blob) {
        let replayed = replay::replay(
            rig,
            case,
            blob,
            baselines.get(blob.name()),
            replay::ATTEMPTS,
        )
        .await?;
        return Ok(match replayed.failed {
            Some((attempt, kind)) => Outcome::Found {
                found: Found {
                    kind,
                    seen: vec![Seen::new(case.clone(), blob, Stood::Replayed)],
                    stats: replayed.stats,
                },
                replay: Some(attempt),
                regressed: None,
            },
            None => Outcome::Passed {
                stats: replayed.stats,
                end: RunEnd::ReplayPassed,
            },
        });
    }
    if let Some(path) = regressions
        && let Some(regressed) = regressions::replay_recorded(rig, path, corpus, baselines).await?
    {
        return Ok(Outcome::Found {
            found: Found {
                kind: regressed.kind,
                seen: vec![regressed.suspect],
                stats: regressed.stats,
            },
            replay: None,
            regressed: Some(path.to_owned()),
        });
    }
    let mut log = match &plan.delivery_log {
        Some(path) => Some(DeliveryLog::create(path).await?),
        None => None,
    };
    let (transport, server) = rig.parts();
    let run = Fuzzing {
        settings,
        corpus,
        transport: transport.clone(),
        oracles: &plan.oracles,
        baselines,
        server,
        stop: plan.stop.as_ref(),
        progress: plan.progress.as_ref(),
        log: log.as_mut(),
    };
    let fuzzed = engine::fuzz(run).await;
    if let Some(log) = log.as_mut() {
        log.finish().await?;
    }
    match fuzzed {
        Ok((stats, end)) => Ok(Outcome::Passed { stats, end }),
        Err(Stopped::Found(found)) => Ok(Outcome::Found {
            found,
            replay: None,
            regressed: None,
        }),
        Err(Stopped::Setup(e)) => Err(e),
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

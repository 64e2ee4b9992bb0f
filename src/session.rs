//! One run from start to report: resolve the settings, start the server, record baselines,
//! replay a case or the recorded regressions, fuzz, narrow a finding to its culprit, record
//! it, and stop the server whatever happened.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::case::Case;
use crate::config::{Settings, resolve_addr};
use crate::corpus::{Blob, Corpus};
use crate::engine::{self, ConnectError, Found, Run, Stopped, Transport};
use crate::error::{Failure, SetupError, SetupErrorKind};
use crate::limits;
use crate::narrow;
use crate::oracle::Baseline;
use crate::probe::Probe;
use crate::record::Recorder;
use crate::replay;
use crate::report::regression;
use crate::report::{
    Finding, FindingKind, Narrowed, RegressionNote, Report, Rerun, RunEnd, Suspect, SuspectState,
};
use crate::split::Splits;
use crate::stats::Stats;
use crate::stutter::{Regressions, Stutter};

/// At most this many suspects are written to a regression file when no culprit is known.
const MAX_RECORDED_SUSPECTS: usize = 10;

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

/// Runs `stutter` with a time budget; `caller` is the name of the calling thread (the test).
pub(crate) async fn run(
    stutter: &Stutter,
    budget: Duration,
    caller: Option<&str>,
) -> Result<Report, Failure> {
    let mut settings = Settings::resolve(&stutter.requested, budget, env_var)?;
    let (connections, fd_note) = limits::fit_connections(settings.connections);
    settings.connections = connections;
    let notes: Vec<String> = fd_note.into_iter().collect();
    let corpus = Corpus::load(&stutter.blob_dirs, &stutter.inline)?;
    let replay_blob = match &settings.replay {
        Some(case) => Some(replay::blob_for(case, &corpus)?),
        None => None,
    };
    let addr = resolve_addr(&stutter.addr, stutter.port_zero())?;
    let transport = Transport::new(addr, &settings);
    let regressions = match settings.replay {
        Some(_) => None,
        None => stutter.regression_path(caller),
    };
    let mut probe = Probe::start(
        stutter.launch(),
        stutter.picks_port(),
        &settings,
        stutter.output.clone(),
        transport,
        &stutter.oracles,
    )
    .await?;
    let addr = probe.transport().addr;
    let mut baselines = HashMap::new();
    let outcome = drive(
        stutter,
        &mut probe,
        &settings,
        &corpus,
        replay_blob,
        regressions.as_deref(),
        &mut baselines,
    )
    .await;
    let stopped = probe.stop().await;
    let (record, died_at_stop) = match stopped {
        Some((record, died)) => (Some(record), died),
        None => (None, None),
    };
    let server_pid = record.as_ref().and_then(|r| r.pid);
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
                });
            }
            // The server died between the last check and the stop.
            Some(exit) => (
                Found {
                    kind: exit.finding(),
                    suspects: Vec::new(),
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

    let narrowed = if replay.is_some() || regressed.is_some() {
        None
    } else {
        let baseline = |name: &str| baselines.get(name).cloned();
        let narrowed = narrow::narrow(
            &mut probe,
            &found.kind,
            &found.suspects,
            &corpus,
            &baseline,
            settings.shrink,
        )
        .await
        .unwrap_or_else(|e| Narrowed::NotTried(format!("the server could not be restarted: {e}")));
        probe.stop().await;
        Some(narrowed)
    };
    let mut finding = Finding {
        kind: found.kind,
        suspects: found.suspects,
        seed: settings.seed,
        addr: addr.to_string(),
        stats: found.stats,
        server: record,
        rerun: Rerun(stutter.rerun_template(caller)),
        replay: replay.map(|attempt| (attempt, replay::ATTEMPTS)),
        narrowed,
        regression: None,
        notes,
    };
    finding.regression = match (regressed, &regressions, replay) {
        (Some(path), _, _) => Some(RegressionNote::Regressed(path)),
        (None, Some(path), None) => {
            let explicit = matches!(stutter.regressions, Regressions::At(_));
            record_regression(&finding, &corpus, path, explicit, caller)
        }
        _ => None,
    };
    Err(finding.into())
}

async fn drive(
    stutter: &Stutter,
    probe: &mut Probe<'_>,
    settings: &Settings,
    corpus: &Corpus,
    replay_blob: Option<&Blob>,
    regressions: Option<&std::path::Path>,
    baselines: &mut HashMap<String, Baseline>,
) -> Result<Outcome, SetupError> {
    if stutter.oracles.expect_same {
        let only;
        let blobs = match replay_blob {
            Some(blob) => {
                only = Corpus::from_blobs(vec![blob.clone()]);
                &only
            }
            None => corpus,
        };
        match record_baselines(stutter, probe, settings, blobs).await {
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
            probe,
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
                    suspects: vec![alone(case, blob)],
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
    if let Some(path) = regressions {
        let recorded = regression::read(path).map_err(|e| {
            SetupError::new(
                SetupErrorKind::Replay,
                format!("cannot read regression file {}: {e}", path.display()),
            )
            .with_source(e)
        })?;
        for rec in recorded {
            let Some(blob) = corpus.find(rec.case.blob()) else {
                continue;
            };
            if !rec.fits(blob) {
                continue;
            }
            let probed = probe
                .try_case(&rec.case, blob, baselines.get(blob.name()))
                .await?;
            if let Some(kind) = probed.failure {
                return Ok(Outcome::Found {
                    found: Found {
                        kind,
                        suspects: vec![alone(&rec.case, blob)],
                        stats: Stats::default(),
                    },
                    replay: None,
                    regressed: Some(path.to_owned()),
                });
            }
        }
    }
    let transport = probe.transport();
    let mut recorder = match &stutter.record {
        Some(path) => Some(Recorder::create(path)?),
        None => None,
    };
    let run = Run {
        settings,
        corpus,
        transport,
        oracles: &stutter.oracles,
        baselines,
        server: probe.server(),
        stop: stutter.stop.as_ref(),
        progress: stutter.progress.as_ref(),
        record: recorder.as_mut(),
    };
    let fuzzed = engine::fuzz(run).await;
    if let Some(recorder) = recorder.as_mut() {
        recorder.finish()?;
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

/// A case delivered on its own (a replay or a regression line).
fn alone(case: &Case, blob: &Blob) -> Suspect {
    Suspect {
        case: case.clone(),
        blob_origin: blob.origin(),
        blob_len: blob.len(),
        iteration: None,
        chunks_sent: case.splits().len(),
        bytes_sent: case.splits().total(),
        state: SuspectState::Replayed,
    }
}

/// Records the whole-blob responses of `blobs`. A server that dies or refuses meanwhile is
/// a finding like any other.
pub(crate) async fn record_baselines(
    stutter: &Stutter,
    probe: &mut Probe<'_>,
    settings: &Settings,
    blobs: &Corpus,
) -> Result<HashMap<String, Baseline>, Stopped> {
    let recorded = engine::record_baselines(
        blobs,
        probe.transport(),
        &stutter.oracles,
        settings.connections,
    )
    .await;
    let whole = |blob: &Blob| Suspect {
        case: Case::new(blob.name(), Splits::whole(blob.len())),
        blob_origin: blob.origin(),
        blob_len: blob.len(),
        iteration: None,
        chunks_sent: 1,
        bytes_sent: blob.len(),
        state: SuspectState::InFlight,
    };
    let died = engine::exit_within(&mut probe.server(), engine::FINAL_SETTLE).await;
    let found = |kind, suspects| {
        Stopped::Found(Found {
            kind,
            suspects,
            stats: Stats::default(),
        })
    };
    if let Some(exit) = died {
        let suspects = blobs.blobs().iter().map(whole).collect();
        return Err(found(exit.finding(), suspects));
    }
    match recorded {
        Ok(baselines) => Ok(baselines),
        Err((error, case)) => {
            let suspects = blobs.find(case.blob()).map(whole).into_iter().collect();
            Err(match error {
                ConnectError::Refused(e) => found(
                    FindingKind::ConnectRefused {
                        error: e.to_string(),
                    },
                    suspects,
                ),
                ConnectError::TimedOut(after) => {
                    found(FindingKind::ConnectTimeout { after }, suspects)
                }
                ConnectError::Local(e) => Stopped::Setup(engine::local_error(e)),
            })
        }
    }
}

/// Appends the finding's line(s) to the regression file, or, under CI unless
/// `STUTTERFUZZ_SAVE_REGRESSIONS` is set, only shows them.
fn record_regression(
    finding: &Finding,
    corpus: &Corpus,
    path: &std::path::Path,
    explicit: bool,
    caller: Option<&str>,
) -> Option<RegressionNote> {
    let cases: Vec<&Case> = match finding.minimal() {
        Some(minimal) => vec![minimal],
        None => finding
            .suspects
            .iter()
            .filter(|s| s.bytes_sent > 0)
            .take(MAX_RECORDED_SUSPECTS)
            .map(|s| &s.case)
            .collect(),
    };
    let lines: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let blob = corpus.find(case.blob())?;
            Some(regression::line(case, blob, &finding.kind, finding.seed))
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let in_ci = env_var("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let asked = env_var("STUTTERFUZZ_SAVE_REGRESSIONS").is_some();
    if !writes_regressions(in_ci, asked, explicit) {
        return Some(RegressionNote::Printed(lines));
    }
    let comment = format!(
        "{} {}: {}",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        caller.unwrap_or("run"),
        finding.kind.headline()
    );
    Some(match regression::append(path, &comment, &lines) {
        Ok(()) => RegressionNote::Written(path.to_owned()),
        Err(e) => RegressionNote::Failed(path.to_owned(), e.to_string()),
    })
}

/// Whether a finding is written to the regression file: always when the file was named in
/// code (`.regression_file`), otherwise not under CI unless `STUTTERFUZZ_SAVE_REGRESSIONS`
/// asks for it (a CI checkout is thrown away; the line is shown in the report instead).
fn writes_regressions(in_ci: bool, asked: bool, explicit: bool) -> bool {
    explicit || asked || !in_ci
}

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
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

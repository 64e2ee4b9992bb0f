//! What a run does with its server once it is up: the baselines first (when answers are
//! compared), then the case to replay, or the recorded regressions and then fuzzing; and
//! how that ended ([`Outcome`]), before the server is stopped and the run reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::baselines::take_baselines;
use super::plan::Plan;
use super::regressions;
use super::replay;
use super::rig::Rig;
use crate::config::Settings;
use crate::control::RunEnd;
use crate::corpus::{Blob, Corpus};
use crate::delivery_log::DeliveryLog;
use crate::engine::{self, Found, Fuzzing, Seen, Stood, Stopped};
use crate::error::SetupError;
use crate::oracle::Baseline;
use crate::stats::Stats;

/// How the run itself ended, before reporting.
pub(super) enum Outcome {
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

/// What a run drives its server with, resolved before the server started.
pub(super) struct Driving<'a> {
    pub(super) plan: &'a Plan,
    pub(super) settings: &'a Settings,
    pub(super) corpus: &'a Corpus,
    /// The blob of the case to replay, when the run replays one.
    pub(super) replay_blob: Option<&'a Blob>,
    /// The regression file to replay before fuzzing, if any.
    pub(super) regressions: Option<&'a Path>,
}

impl Driving<'_> {
    /// Runs the server through the run's stages, each of which may end it: the baselines,
    /// then the replayed case, or the recorded regressions and then fuzzing. `baselines`
    /// receives the answers recorded, which ending the run reads too.
    pub(super) async fn drive(
        &self,
        rig: &mut Rig<'_>,
        baselines: &mut HashMap<String, Baseline>,
    ) -> Result<Outcome, SetupError> {
        if self.plan.oracles.same_as_whole
            && let Some(found) = self.record_baselines(rig, baselines).await?
        {
            return Ok(Outcome::Found {
                found,
                replay: None,
                regressed: None,
            });
        }
        if let Some(replayed) = self.replay(rig, baselines).await? {
            return Ok(replayed);
        }
        if let Some(regressed) = self.regressions(rig, baselines).await? {
            return Ok(regressed);
        }
        self.fuzz(rig, baselines).await
    }

    /// Records every blob's answer sent whole (only the replayed case's blob, when
    /// replaying) into `baselines`; a finding made meanwhile ends the run.
    async fn record_baselines(
        &self,
        rig: &mut Rig<'_>,
        baselines: &mut HashMap<String, Baseline>,
    ) -> Result<Option<Found>, SetupError> {
        let only;
        let blobs = match self.replay_blob {
            Some(blob) => {
                only = Corpus::from_blobs(vec![blob.clone()]);
                &only
            }
            None => self.corpus,
        };
        match take_baselines(rig, blobs, self.settings.connections).await {
            Ok(recorded) => {
                *baselines = recorded;
                Ok(None)
            }
            Err(Stopped::Found(found)) => Ok(Some(found)),
            Err(Stopped::Setup(e)) => Err(e),
        }
    }

    /// Replays the run's case, when it has one, [`replay::ATTEMPTS`] times: how that ended
    /// (the first attempt that failed, or a pass). `None` when the run replays nothing.
    async fn replay(
        &self,
        rig: &mut Rig<'_>,
        baselines: &HashMap<String, Baseline>,
    ) -> Result<Option<Outcome>, SetupError> {
        let (Some(case), Some(blob)) = (&self.settings.replay, self.replay_blob) else {
            return Ok(None);
        };
        let replayed = replay::replay(
            rig,
            case,
            blob,
            baselines.get(blob.name()),
            replay::ATTEMPTS,
        )
        .await?;
        Ok(Some(match replayed.failed {
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
        }))
    }

    /// Replays the cases recorded in the regression file, if the run has one: the first
    /// that fails again ends the run. `None` when none does (or there is no file).
    async fn regressions(
        &self,
        rig: &mut Rig<'_>,
        baselines: &HashMap<String, Baseline>,
    ) -> Result<Option<Outcome>, SetupError> {
        let Some(path) = self.regressions else {
            return Ok(None);
        };
        let regressed = regressions::replay_recorded(rig, path, self.corpus, baselines).await?;
        Ok(regressed.map(|regressed| Outcome::Found {
            found: Found {
                kind: regressed.kind,
                seen: vec![regressed.suspect],
                stats: regressed.stats,
            },
            replay: None,
            regressed: Some(path.to_owned()),
        }))
    }

    /// Fuzzes until the budget, a stop or a finding, logging each delivery when the plan
    /// keeps a delivery log (finished whatever the fuzzing came to).
    async fn fuzz(
        &self,
        rig: &mut Rig<'_>,
        baselines: &mut HashMap<String, Baseline>,
    ) -> Result<Outcome, SetupError> {
        let mut log = match &self.plan.delivery_log {
            Some(path) => Some(DeliveryLog::create(path).await?),
            None => None,
        };
        let (transport, server) = rig.parts();
        let run = Fuzzing {
            settings: self.settings,
            corpus: self.corpus,
            transport: transport.clone(),
            oracles: &self.plan.oracles,
            baselines,
            server,
            stop: self.plan.stop.as_ref(),
            progress: self.plan.progress.as_ref(),
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
}

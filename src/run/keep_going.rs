//! A run that goes on after findings: after every finding (`Stutter::keep_going`), or after
//! the findings a known-findings file lists (`Stutter::known`). Each part is a whole run
//! (server started, baselines, fuzzing, a finding confirmed and narrowed, server stopped
//! with its process tree); the next begins on a fresh server with the next seed and what is
//! left of the budget. Findings are told apart by their signature: one met again is
//! counted, not narrowed or reported twice; a known one is counted and not reported. A part
//! that ends at a finding narrowing disowned goes on too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::plan::Plan;
use super::session::{self, Next};
use crate::control::{ProgressHook, RunEnd};
use crate::report::{Failure, Findings, Report, known};
use crate::rng::Seed;
use crate::stats::Stats;

/// At most this many parts: a server that fails at once, every time, ends the run here.
const MOST_PARTS: u32 = 200;

/// The fewest connections in flight a run that keeps going goes down to.
const FEWEST: usize = 4;

/// Runs `plan` with a time budget, going on after findings when the plan says so.
pub(crate) async fn run(
    plan: &Plan,
    budget: Duration,
    caller: Option<&str>,
) -> Result<Report, Failure> {
    // A replay is one case, as many times as it takes: no run to go on with.
    let replaying = plan.settings(budget).is_ok_and(|s| s.replay.is_some());
    let known_file = match &plan.keep_going.known {
        Some(path) if !replaying => known::read(path)?,
        _ => Vec::new(),
    };
    if replaying || (!plan.keep_going.always && known_file.is_empty()) {
        return session::run(plan, budget, caller, None).await;
    }
    let mut so_far = SoFar::new(plan, budget, known_file);
    let mut seed = None;
    for _ in 0..MOST_PARTS {
        let left = budget.saturating_sub(so_far.started.elapsed());
        if left.is_zero() {
            break;
        }
        let known = so_far.known();
        let next = Next {
            seed,
            known: &known,
            connections: Some(so_far.connections),
        };
        let part_started = so_far.started.elapsed();
        let outcome = session::run(&so_far.part_plan(), left, caller, Some(next)).await;
        match so_far.take(outcome, part_started, &known)? {
            Some(part_seed) => {
                seed = Some(Seed::new(
                    part_seed.value().wrapping_add(0x9e37_79b9_7f4a_7c15),
                ));
            }
            None => break,
        }
        so_far.progress();
    }
    so_far.end()
}

/// What a run that keeps going has met so far, over its parts.
struct SoFar<'p> {
    plan: &'p Plan,
    started: Instant,
    known_file: Vec<String>,
    findings: Option<Findings>,
    /// The parts' stats added up; `None` before the first part ends.
    stats: Option<Stats>,
    /// The first part's seed: the run's own.
    first_seed: Option<Seed>,
    /// The last part that ended without a finding.
    last: Option<Report>,
    /// Findings that matched the known-findings file.
    known_met: u64,
    /// A finding met again ends its part early, every delivery in flight lost with the
    /// server: the parts after it have half as many connections in flight (down to
    /// `FEWEST`), so more of them finish, and other bugs get their turn.
    most: usize,
    connections: usize,
    last_progress: Instant,
}

impl<'p> SoFar<'p> {
    fn new(plan: &'p Plan, budget: Duration, known_file: Vec<String>) -> Self {
        let most = plan.settings(budget).map_or(FEWEST, |s| s.connections);
        SoFar {
            plan,
            started: Instant::now(),
            known_file,
            findings: None,
            stats: None,
            first_seed: None,
            last: None,
            known_met: 0,
            most,
            connections: most,
            last_progress: Instant::now(),
        }
    }

    /// The signatures the next part passes over: the known-findings file's, and those
    /// found already.
    fn known(&self) -> Vec<String> {
        let mut known = self.known_file.clone();
        if let Some(all) = &self.findings {
            known.extend(all.distinct.iter().map(|d| d.finding.signature.clone()));
        }
        known
    }

    /// The plan of the next part: its progress hook is shown the whole run so far.
    fn part_plan(&self) -> Plan {
        Plan {
            progress: whole_run_progress(self.plan, self.stats.as_ref(), self.findings.as_ref()),
            ..self.plan.clone()
        }
    }

    /// Takes in how a part ended (`part_started` into the run; `known`, the signatures it
    /// passed over): the seed to go on from, `None` when the run ends here.
    fn take(
        &mut self,
        outcome: Result<Report, Failure>,
        part_started: Duration,
        known: &[String],
    ) -> Result<Option<Seed>, Failure> {
        let part_seed = match outcome {
            Ok(report) => {
                let (part_seed, end) = (report.seed, report.end);
                absorb(&mut self.stats, &report.stats);
                self.last = Some(report);
                if end != RunEnd::Unconfirmed {
                    return Ok(None);
                }
                part_seed
            }
            Err(Failure::Finding(finding)) => {
                let part_seed = finding.seed;
                absorb(&mut self.stats, &finding.stats);
                if known.contains(&finding.signature) {
                    self.connections = (self.connections / 2).max(FEWEST).min(self.connections);
                }
                if self.known_file.contains(&finding.signature) {
                    self.known_met += 1;
                } else {
                    // When it showed: this part's start, and its fuzzing before it.
                    let at = part_started + finding.stats.elapsed;
                    let run_seed = self.first_seed.unwrap_or(part_seed);
                    let plan = self.plan;
                    let all = self
                        .findings
                        .get_or_insert_with(|| Findings::new(report_of(plan, run_seed)));
                    if let (Some(new), Some(hook)) =
                        (all.add(*finding, at), &plan.keep_going.on_finding)
                    {
                        hook.call(new);
                    }
                    if !plan.keep_going.always {
                        return Ok(None);
                    }
                }
                part_seed
            }
            // A setup error after findings: the findings stand, the error is a note.
            Err(Failure::Setup(error)) if self.findings.is_some() => {
                if let Some(all) = self.findings.as_mut() {
                    all.report
                        .notes
                        .push(format!("the run ended early: {error}"));
                }
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        self.first_seed.get_or_insert(part_seed);
        Ok(Some(part_seed))
    }

    /// Shows the progress hook the run so far between parts too (parts that meet known
    /// findings at once may end before a tick), as often as the hook asks.
    fn progress(&mut self) {
        if let (Some(hook), Some(so_far)) = (&self.plan.progress, &self.stats)
            && self.last_progress.elapsed() >= hook.every
        {
            let mut all = so_far.clone();
            count_findings(&mut all, self.findings.as_ref());
            (hook.callback)(&all);
            self.last_progress = Instant::now();
        }
    }

    /// How the whole run ended: its report, its one new finding (a run that does not keep
    /// going), or every distinct finding.
    fn end(self) -> Result<Report, Failure> {
        // Its `elapsed` is the parts' fuzzing added up, as its rates are; the run's whole
        // time, narrowing and restarts too, is the table's.
        let mut stats = self.stats.unwrap_or_default();
        count_findings(&mut stats, self.findings.as_ref());
        let known_note = known::note(self.known_met);
        let (connections, most) = (self.connections, self.most);
        let fewer_note = (connections < most).then(|| {
            format!(
                "findings met again ended parts of the run early: it went on with {connections} connections in flight (from {most}), so more deliveries finish between them"
            )
        });
        let notes = known_note.into_iter().chain(fewer_note);
        match self.findings {
            // Not going on: the one new finding, as a run that stops at it reports it.
            Some(mut all) if !self.plan.keep_going.always && all.distinct.len() == 1 => {
                let mut finding = all.distinct.remove(0).finding;
                finding.notes.extend(notes);
                Err(Failure::Finding(Box::new(finding)))
            }
            Some(mut all) => {
                all.report.stats = stats;
                all.took = self.started.elapsed();
                if let Some(last) = self.last {
                    all.report.end = last.end;
                    all.report.notes.extend(last.notes);
                }
                all.report.notes.extend(notes);
                Err(Failure::Findings(Box::new(all)))
            }
            None => {
                let seed = self.first_seed.unwrap_or(Seed::new(0));
                let mut report = self.last.unwrap_or_else(|| report_of(self.plan, seed));
                report.stats = stats;
                report.notes.extend(notes);
                Ok(report)
            }
        }
    }
}

/// The findings so far, in the stats a progress line shows.
fn count_findings(stats: &mut Stats, findings: Option<&Findings>) {
    let distinct = findings.map_or(&[][..], |all| all.distinct());
    stats.findings_distinct = distinct.len() as u64;
    stats.findings_met = distinct.iter().map(|d| d.seen()).sum();
}

/// The plan's progress hook, shown the whole run's stats so far (earlier parts', their
/// findings and restarts) with the running part's, not the part's alone.
fn whole_run_progress(
    plan: &Plan,
    so_far: Option<&Stats>,
    findings: Option<&Findings>,
) -> Option<ProgressHook> {
    let hook = plan.progress.as_ref()?;
    let Some(so_far) = so_far else {
        return Some(hook.clone());
    };
    let mut before = so_far.clone();
    count_findings(&mut before, findings);
    let callback = hook.callback.clone();
    Some(ProgressHook {
        every: hook.every,
        callback: Arc::new(move |part: &Stats| {
            let mut all = before.clone();
            all.absorb(part);
            all.restarts += 1;
            callback(&all);
        }),
    })
}

/// Adds a part's stats to the run's; every part after the first began on a fresh server.
fn absorb(stats: &mut Option<Stats>, part: &Stats) {
    match stats {
        Some(all) => {
            all.absorb(part);
            all.restarts += 1;
        }
        None => *stats = Some(part.clone()),
    }
}

/// The whole run's report, before its stats are in.
fn report_of(plan: &Plan, seed: Seed) -> Report {
    Report {
        stats: Stats::default(),
        seed,
        end: RunEnd::TimeUp,
        replayed: None,
        server_pid: None,
        checks: plan.checks(),
        notes: Vec::new(),
    }
}

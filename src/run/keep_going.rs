//! A run that goes on after each finding (`Stutter::keep_going`): each part is a whole run
//! (server started, baselines, fuzzing, a finding confirmed and narrowed, server stopped
//! with its process tree), the next begins on a fresh server with the next seed and what is
//! left of the budget. Findings are told apart by their signature; one met again is
//! counted, not reported twice. A part that ends at a finding narrowing disowned goes on
//! too.

use std::time::{Duration, Instant};

use super::plan::Plan;
use super::session;
use crate::control::RunEnd;
use crate::report::{Failure, Findings, Report};
use crate::rng::Seed;
use crate::stats::Stats;

/// At most this many parts: a server that fails at once, every time, ends the run here.
const MOST_PARTS: u32 = 200;

/// Runs `plan` with a time budget, going on after findings when the plan says so.
pub(crate) async fn run(
    plan: &Plan,
    budget: Duration,
    caller: Option<&str>,
) -> Result<Report, Failure> {
    // A replay is one case, as many times as it takes: no run to go on with.
    let replaying = plan.settings(budget).is_ok_and(|s| s.replay.is_some());
    if !plan.keep_going || replaying {
        return session::run(plan, budget, caller, None).await;
    }
    let started = Instant::now();
    let mut findings: Option<Findings> = None;
    let mut stats: Option<Stats> = None;
    let mut next: Option<Seed> = None;
    let mut last: Option<Report> = None;
    for _ in 0..MOST_PARTS {
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let known: Vec<String> = findings.as_ref().map_or_else(Vec::new, |all| {
            all.distinct
                .iter()
                .map(|d| d.finding.signature.clone())
                .collect()
        });
        let part_started = started.elapsed();
        let going_on = next.map(|seed| session::Next {
            seed,
            known: &known,
        });
        let seed = match session::run(plan, left, caller, going_on).await {
            Ok(report) => {
                let (seed, end) = (report.seed, report.end);
                absorb(&mut stats, &report.stats);
                last = Some(report);
                if end != RunEnd::Unconfirmed {
                    break;
                }
                seed
            }
            Err(Failure::Finding(finding)) => {
                let seed = finding.seed;
                absorb(&mut stats, &finding.stats);
                // When it showed: this part's start, and its fuzzing before it.
                let at = part_started + finding.stats.elapsed;
                match findings.as_mut() {
                    Some(all) => all.add(*finding, at),
                    None => {
                        let mut all = Findings {
                            distinct: Vec::new(),
                            report: report_of(plan, seed),
                        };
                        all.add(*finding, at);
                        findings = Some(all);
                    }
                }
                seed
            }
            // A setup error after findings: the findings stand, the error is a note.
            Err(Failure::Setup(error)) if findings.is_some() => {
                if let Some(all) = findings.as_mut() {
                    all.report
                        .notes
                        .push(format!("the run ended early: {error}"));
                }
                break;
            }
            Err(other) => return Err(other),
        };
        next = Some(Seed::new(seed.value().wrapping_add(0x9e37_79b9_7f4a_7c15)));
    }
    let mut stats = stats.unwrap_or_default();
    // The whole run's time: its parts' fuzzing, and the narrowing between them.
    stats.elapsed = started.elapsed();
    match findings {
        Some(mut all) => {
            all.report.stats = stats;
            if let Some(last) = last {
                all.report.end = last.end;
                all.report.notes.extend(last.notes);
            }
            Err(Failure::Findings(Box::new(all)))
        }
        None => {
            let mut report = last.unwrap_or_else(|| report_of(plan, Seed::new(0)));
            report.stats = stats;
            Ok(report)
        }
    }
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

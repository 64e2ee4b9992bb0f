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
    let known_file = match &plan.known {
        Some(path) if !replaying => known::read(path)?,
        _ => Vec::new(),
    };
    if replaying || (!plan.keep_going && known_file.is_empty()) {
        return session::run(plan, budget, caller, None).await;
    }
    let started = Instant::now();
    let mut findings: Option<Findings> = None;
    let mut stats: Option<Stats> = None;
    let mut seed: Option<Seed> = None;
    let mut first_seed: Option<Seed> = None;
    let mut last: Option<Report> = None;
    let mut known_met = 0u64;
    // A finding met again ends its part early, every delivery in flight lost with the
    // server: the parts after it have half as many connections in flight (down to
    // `FEWEST`), so more of them finish, and other bugs get their turn.
    let most = plan.settings(budget).map_or(FEWEST, |s| s.connections);
    let mut connections = most;
    let mut last_progress = Instant::now();
    for _ in 0..MOST_PARTS {
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let mut known = known_file.clone();
        if let Some(all) = &findings {
            known.extend(all.distinct.iter().map(|d| d.finding.signature.clone()));
        }
        let part_started = started.elapsed();
        let next = Next {
            seed,
            known: &known,
            connections: Some(connections),
        };
        let part_plan = Plan {
            progress: whole_run_progress(plan, stats.as_ref(), findings.as_ref()),
            ..plan.clone()
        };
        let part_seed = match session::run(&part_plan, left, caller, Some(next)).await {
            Ok(report) => {
                let (part_seed, end) = (report.seed, report.end);
                absorb(&mut stats, &report.stats);
                last = Some(report);
                if end != RunEnd::Unconfirmed {
                    break;
                }
                part_seed
            }
            Err(Failure::Finding(finding)) => {
                let part_seed = finding.seed;
                absorb(&mut stats, &finding.stats);
                if known.contains(&finding.signature) {
                    connections = (connections / 2).max(FEWEST).min(connections);
                }
                if known_file.contains(&finding.signature) {
                    known_met += 1;
                } else {
                    // When it showed: this part's start, and its fuzzing before it.
                    let at = part_started + finding.stats.elapsed;
                    let run_seed = first_seed.unwrap_or(part_seed);
                    let all =
                        findings.get_or_insert_with(|| Findings::new(report_of(plan, run_seed)));
                    if let (Some(new), Some(hook)) = (all.add(*finding, at), &plan.on_finding) {
                        (hook.0)(new);
                    }
                    if !plan.keep_going {
                        break;
                    }
                }
                part_seed
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
        first_seed.get_or_insert(part_seed);
        seed = Some(Seed::new(
            part_seed.value().wrapping_add(0x9e37_79b9_7f4a_7c15),
        ));
        // Between parts too (parts that meet known findings at once may end before a
        // tick), as often as the hook asks.
        if let (Some(hook), Some(so_far)) = (&plan.progress, &stats)
            && last_progress.elapsed() >= hook.every
        {
            let mut all = so_far.clone();
            count_findings(&mut all, findings.as_ref());
            (hook.callback)(&all);
            last_progress = Instant::now();
        }
    }
    // Its `elapsed` is the parts' fuzzing added up, as its rates are; the run's whole time,
    // narrowing and restarts too, is the table's.
    let mut stats = stats.unwrap_or_default();
    count_findings(&mut stats, findings.as_ref());
    let known_note = (known_met > 0).then(|| {
        format!("{known_met} finding(s) matched the known-findings file: counted, not reported")
    });
    let fewer_note = (connections < most).then(|| {
        format!(
            "findings met again ended parts of the run early: it went on with {connections} connections in flight (from {most}), so more deliveries finish between them"
        )
    });
    let known_note = known_note.into_iter().chain(fewer_note);
    match findings {
        // Not going on: the one new finding, as a run that stops at it reports it.
        Some(mut all) if !plan.keep_going && all.distinct.len() == 1 => {
            let mut finding = all.distinct.remove(0).finding;
            finding.notes.extend(known_note);
            Err(Failure::Finding(Box::new(finding)))
        }
        Some(mut all) => {
            all.report.stats = stats;
            all.took = started.elapsed();
            if let Some(last) = last {
                all.report.end = last.end;
                all.report.notes.extend(last.notes);
            }
            all.report.notes.extend(known_note);
            Err(Failure::Findings(Box::new(all)))
        }
        None => {
            let mut report =
                last.unwrap_or_else(|| report_of(plan, first_seed.unwrap_or(Seed::new(0))));
            report.stats = stats;
            report.notes.extend(known_note);
            Ok(report)
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

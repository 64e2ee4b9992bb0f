//! The run layer: a run from its plan to its report. It is the only layer that knows all
//! the others; the facade hands it a [`Plan`] and gets a report back.
//!
//! - [`plan`]: what the facade was told, as plain data, and the decisions that hang on it;
//! - [`session`]: one run from start to report (baselines, regressions, fuzzing, narrowing);
//! - [`driving`]: what a run does with its server: baselines, then replay, regressions or fuzzing;
//! - [`rig`]: the test rig: the server under test, restarted as needed, and one case at a time;
//! - [`baselines`]: the whole-blob responses the split-invariance oracle compares with;
//! - [`regressions`]: the regression file, replayed first and appended to;
//! - [`narrow`]: from a finding to the case that fails alone, shrunk;
//! - [`culprit`]: the search for the suspect that fails alone (group testing on fresh servers);
//! - [`tries`]: what narrowing and the culprit search ask the rig, and what they may spend;
//! - [`replay`]: one recorded case, delivered a few times;
//! - [`running_server`]: a server kept up for single deliveries (property tests);
//! - [`fuzz_target`]: the same for a coverage-guided fuzzer's inputs;
//! - [`thread`]: the thread and runtime of a blocking entry point.

mod baselines;
mod culprit;
mod driving;
mod fuzz_target;
mod keep_going;
mod listen_at;
mod listening;
mod narrow;
mod plan;
mod regressions;
mod replay;
mod rig;
mod running_server;
mod session;
mod thread;
mod tries;

use std::time::Duration;

pub use fuzz_target::FuzzTarget;
pub(crate) use listening::check_listening;
pub use plan::Regressions;
pub(crate) use plan::{InProcess, Plan, RegressionFile};
pub use running_server::{DeliveryResult, RunningServer};
pub(crate) use thread::{may_block, named as named_thread, runtime, thread_error};

use crate::case::Case;
use crate::engine::schedule;
use crate::error::SetupError;
use crate::report::{Failure, Report};

/// Runs `plan` on a thread and runtime of its own, blocking this thread until it ends.
/// Refused on the only thread of a current-thread runtime, which it would block.
pub(crate) fn run_blocking(plan: &Plan, budget: Duration) -> Result<Report, Failure> {
    thread::may_block("run_for / try_run_for", "run_for_async")?;
    let caller = std::thread::current().name().map(str::to_owned);
    std::thread::scope(|scope| {
        let worker = thread::named("stutterfuzz")
            .spawn_scoped(scope, || {
                thread::runtime()?.block_on(keep_going::run(plan, budget, caller.as_deref()))
            })
            .map_err(|e| thread::thread_error("run", e))?;
        match worker.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `plan` on the caller's runtime, so a server spawned on that runtime runs alongside.
pub(crate) async fn run_async(plan: &Plan, budget: Duration) -> Result<Report, Failure> {
    let caller = std::thread::current().name().map(str::to_owned);
    keep_going::run(plan, budget, caller.as_deref()).await
}

/// The first `n` cases `plan` delivers, in order, without touching the network.
pub(crate) fn preview(plan: &Plan, n: usize) -> Result<Vec<Case>, SetupError> {
    let settings = plan.settings(Duration::MAX)?;
    let corpus = plan.corpus()?;
    Ok(schedule(&corpus, &settings)
        .take(n)
        .map(|(_, drawn)| drawn.case)
        .collect())
}

/// Panics with the failure (a server run's or a client run's), naming `caller` as the place
/// of the call.
pub(crate) fn fail_at(
    failure: impl std::fmt::Display,
    caller: &'static std::panic::Location<'static>,
) -> ! {
    panic!("{failure}\n(called at {caller})")
}

//! A fuzz target for coverage-guided fuzzers: the fuzzer's bytes become a case
//! ([`case_of_input`]), delivered to a server kept up across iterations (restarted when a
//! case killed it) and judged by every oracle. A finding becomes a panic, which libFuzzer and
//! AFL record as a crash (with its input saved, minimized and kept), and whose message begins
//! with the case string that `STUTTERFUZZ_REPLAY` and `--replay` reproduce.
//!
//! With an in-process server ([`Stutter::serve`](crate::Stutter::serve)) the server's code
//! runs in the fuzzer's process, so the fuzzer's coverage instrumentation sees which branches
//! of its parser a split reaches: that is what guides the search.

use std::fmt;

use super::plan::Plan;
use super::running_server::{DeliveryResult, RunningServer};
use crate::case::{Case, InputError, case_of_input, input_of_case};
use crate::corpus::Blob;
use crate::error::{SetupError, SetupErrorKind};
use crate::report::Failure;

/// A server kept up for a fuzzer's inputs. Made by
/// [`Stutter::fuzz_target`](crate::Stutter::fuzz_target); stops the server when dropped.
pub struct FuzzTarget {
    target: RunningServer,
    blobs: Vec<Blob>,
}

impl fmt::Debug for FuzzTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FuzzTarget")
            .field("blobs", &self.blobs.len())
            .finish_non_exhaustive()
    }
}

impl FuzzTarget {
    pub(crate) fn start(plan: &Plan) -> Result<FuzzTarget, Failure> {
        let blobs = plan.corpus()?.blobs().to_vec();
        if blobs.is_empty() {
            return Err(SetupError::new(
                SetupErrorKind::Blobs,
                "a fuzz target needs at least one blob: add .blobs(dir) or .blob(name, bytes)",
            )
            .into());
        }
        // A fuzzer's speed is its inputs per second: each input waits at most
        // [`FUZZER_AFTER_LAST`](super::plan::FUZZER_AFTER_LAST) after its last chunk (the server has read every chunk by then, and
        // an in-process server's panic is seen at once), and each chunk waits for the
        // server's end to receive and read it, not for its acknowledgement (which the
        // server's kernel may hold back 40 ms).
        let mut plan = plan.clone();
        plan.for_fuzzer = true;
        let target = RunningServer::start(&plan)?;
        // A fuzzer's panic hook aborts the process at once: a server's panic must become a
        // finding first, so that the abort that follows comes with the case string.
        crate::server::keep_server_panics();
        Ok(FuzzTarget { target, blobs })
    }

    /// The case `input` stands for.
    pub fn case(&self, input: &[u8]) -> Case {
        case_of_input(input, &self.blobs).expect("a fuzz target has blobs")
    }

    /// The input that stands for `case`: for seeding the fuzzer's corpus with case strings
    /// and regression lines.
    ///
    /// # Errors
    /// When the case's blob is not among the target's, or the case does not fit it.
    pub fn input(&self, case: &Case) -> Result<Vec<u8>, InputError> {
        input_of_case(case, &self.blobs)
    }

    /// Delivers the case `input` stands for and judges it.
    ///
    /// # Errors
    /// [`Failure::Finding`] for a failing case; [`Failure::Setup`] when the server cannot be
    /// restarted.
    pub fn try_run(&self, input: &[u8]) -> Result<DeliveryResult, Failure> {
        let case = self.case(input);
        let blob = self
            .blobs
            .iter()
            .find(|b| b.name() == case.blob())
            .expect("the case names one of the target's blobs");
        self.target.deliver_case(blob, &case)
    }

    /// Delivers the case `input` stands for; a failing case panics with its case string
    /// first (`stutterfuzz case = v1:...`), then the report. This is the body of a
    /// `fuzz_target!`.
    pub fn run(&self, input: &[u8]) {
        if let Err(failure) = self.try_run(input) {
            let case = self.case(input);
            panic!(
                "stutterfuzz case = {case}\nreplay it with STUTTERFUZZ_REPLAY='{case}' on the test, or --replay '{case}' on the command line\n{failure}"
            );
        }
    }
}

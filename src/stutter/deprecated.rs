//! The builder's old names, kept for one release: each forwards to the method that took its
//! place, and is hidden from the docs.

use std::path::PathBuf;

use super::{AnswerOracle, Stutter};
use crate::control::RunControl;
use crate::split::SplitMode;

#[doc(hidden)]
impl Stutter {
    #[deprecated(since = "0.2.0", note = "renamed `split_mode`")]
    pub fn splits(self, mode: SplitMode) -> Self {
        self.split_mode(mode)
    }

    #[deprecated(since = "0.2.0", note = "renamed `oracle`")]
    pub fn responses(self, oracle: AnswerOracle) -> Self {
        self.oracle(oracle)
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.oracle(AnswerOracle::default().isolate_blobs(on))`"
    )]
    pub fn isolate_blobs(self, on: bool) -> Self {
        self.oracle(AnswerOracle::default().isolate_blobs(on))
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.keep_going(KeepGoing::always().on_finding(callback))`"
    )]
    pub fn on_finding(
        mut self,
        callback: impl Fn(&crate::Finding) + Send + Sync + 'static,
    ) -> Self {
        let keep_going = std::mem::take(&mut self.plan.keep_going);
        self.keep_going(keep_going.on_finding(callback))
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.keep_going(KeepGoing::past_known(path))`"
    )]
    pub fn known(mut self, path: impl Into<PathBuf>) -> Self {
        let keep_going = std::mem::take(&mut self.plan.keep_going);
        self.keep_going(keep_going.known(path))
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.control(RunControl::default().record(path))`"
    )]
    pub fn record(self, path: impl Into<PathBuf>) -> Self {
        self.control(RunControl::default().record(path))
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.control(RunControl::default().rerun_command(template))`"
    )]
    pub fn rerun_command(self, template: impl Into<String>) -> Self {
        self.control(RunControl::default().rerun_command(template))
    }
}

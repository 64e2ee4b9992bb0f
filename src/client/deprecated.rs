//! The client builder's old names, kept for one release: each forwards to the method that
//! took its place (the name [`Stutter`](crate::Stutter) uses), and is hidden from the docs.

use std::path::PathBuf;
use std::time::Duration;

use super::{ClientFinding, StutterClient};
use crate::split::SplitMode;

#[doc(hidden)]
impl StutterClient {
    #[deprecated(since = "0.2.0", note = "named `connections`, as `Stutter` names it")]
    pub fn parallel(self, n: usize) -> Self {
        self.connections(n)
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.timeouts(Timeouts::default().client(limit))`"
    )]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.plan.timeout = limit;
        self
    }

    #[deprecated(since = "0.2.0", note = "renamed `split_mode`, as `Stutter` names it")]
    pub fn splits(self, mode: SplitMode) -> Self {
        self.split_mode(mode)
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.output(OutputRules::default().fail_on(pattern))`, as `Stutter` does"
    )]
    pub fn fail_on_output(mut self, pattern: impl Into<String>) -> Self {
        self.plan.watch.fail_on.push(pattern.into());
        self
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.keep_going(ClientKeepGoing::always().on_finding(callback))`"
    )]
    pub fn on_finding(mut self, callback: impl Fn(&ClientFinding) + Send + Sync + 'static) -> Self {
        let keep_going = std::mem::take(&mut self.plan.keep_going);
        self.keep_going(keep_going.on_finding(callback))
    }

    #[deprecated(
        since = "0.2.0",
        note = "use `.keep_going(ClientKeepGoing::past_known(path))`"
    )]
    pub fn known(mut self, path: impl Into<PathBuf>) -> Self {
        let keep_going = std::mem::take(&mut self.plan.keep_going);
        self.keep_going(keep_going.known(path))
    }
}

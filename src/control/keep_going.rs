//! [`KeepGoingFor`]: whether a run stops at its first finding or goes on to find every
//! distinct one, which findings it passes over as known, and what hears each new one. One
//! type for both directions, named for each by its finding: [`KeepGoing`](crate::KeepGoing)
//! for [`Stutter`](crate::Stutter), [`ClientKeepGoing`](crate::ClientKeepGoing) for
//! [`StutterClient`](crate::StutterClient).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Whether a run goes on after a finding, for a run whose findings are `F`s: use it as
/// [`KeepGoing`](crate::KeepGoing) or [`ClientKeepGoing`](crate::ClientKeepGoing). Default: a
/// run stops at its first finding (a test goes red at once); `true` converts to
/// [`always`](Self::always).
///
/// ```no_run
/// use std::time::Duration;
/// use stutterfuzz::{KeepGoing, Stutter};
///
/// let report = Stutter::new("127.0.0.1:6789")
///     .blobs("fixtures/blobs")
///     .keep_going(
///         KeepGoing::always()
///             .known("tests/known-findings.txt")
///             .on_finding(|finding| eprintln!("{}", finding.signature())),
///     )
///     .try_run_for(Duration::from_secs(600));
/// # let _ = report;
/// ```
pub struct KeepGoingFor<F> {
    pub(crate) always: bool,
    pub(crate) known: Option<PathBuf>,
    pub(crate) on_finding: Option<FindingHook<F>>,
}

/// What hears each new distinct finding.
pub(crate) struct FindingHook<F>(Arc<dyn Fn(&F) + Send + Sync>);

impl<F> FindingHook<F> {
    /// Tells the hook of `finding`.
    pub(crate) fn call(&self, finding: &F) {
        (self.0)(finding);
    }
}

impl<F> Clone for FindingHook<F> {
    fn clone(&self) -> Self {
        FindingHook(self.0.clone())
    }
}

impl<F> fmt::Debug for FindingHook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FindingHook(..)")
    }
}

impl<F> KeepGoingFor<F> {
    /// Goes on after each finding until the budget (or the cycles) end, instead of stopping
    /// at the first: for long runs that should find every distinct bug. Each finding is
    /// confirmed and narrowed as always; then the run begins again on a fresh server (a
    /// spawned server is stopped with its whole process tree and started anew) with the
    /// next seed. Findings are told apart by their signature; one met again adds to its
    /// count. A run with findings fails, listing each distinct one, how often and when first
    /// it was seen; `.cycles(n)` applies to each part between findings.
    pub fn always() -> Self {
        KeepGoingFor {
            always: true,
            ..KeepGoingFor::default()
        }
    }

    /// Stops at the first new finding, but goes on past those listed in `path` (see
    /// [`known`](Self::known)).
    pub fn past_known(path: impl Into<PathBuf>) -> Self {
        KeepGoingFor::default().known(path)
    }

    /// A file of findings already known, one signature a line (a failure file's
    /// `# signature:` lines may be copied as they are; other `#` lines are comments): a
    /// finding that matches one is counted in a note, not reported, and the run goes on on a
    /// fresh server. Keep it beside the test's regression file. A file that cannot be read
    /// is a setup error.
    pub fn known(mut self, path: impl Into<PathBuf>) -> Self {
        self.known = Some(path.into());
        self
    }

    /// Calls `callback` with each new distinct finding as soon as it is confirmed and
    /// narrowed, before the run goes on: to save or print it at once, so that a run killed
    /// later loses none. (A finding met again is not new.)
    pub fn on_finding(mut self, callback: impl Fn(&F) + Send + Sync + 'static) -> Self {
        self.on_finding = Some(FindingHook(Arc::new(callback)));
        self
    }
}

impl<F> Default for KeepGoingFor<F> {
    fn default() -> Self {
        KeepGoingFor {
            always: false,
            known: None,
            on_finding: None,
        }
    }
}

impl<F> Clone for KeepGoingFor<F> {
    fn clone(&self) -> Self {
        KeepGoingFor {
            always: self.always,
            known: self.known.clone(),
            on_finding: self.on_finding.clone(),
        }
    }
}

impl<F> From<bool> for KeepGoingFor<F> {
    /// `true`: [`always`](KeepGoingFor::always); `false`: stop at the first finding.
    fn from(always: bool) -> Self {
        KeepGoingFor {
            always,
            ..KeepGoingFor::default()
        }
    }
}

impl<F> fmt::Debug for KeepGoingFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepGoing")
            .field("always", &self.always)
            .field("known", &self.known)
            .field("on_finding", &self.on_finding.is_some())
            .finish()
    }
}

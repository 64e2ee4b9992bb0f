//! Steering a run from outside: stopping it early, watching its progress, recording its
//! deliveries, going on past findings; and why a run ended.

mod keep_going;

pub(crate) use keep_going::FindingHook;
pub use keep_going::KeepGoingFor;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::stats::Stats;

/// Why a run without a finding ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEnd {
    /// Every blob was delivered the number of times `.cycles(n)` asked for.
    CyclesDone,
    /// The time budget ran out.
    TimeUp,
    /// A [`StopHandle`](crate::StopHandle) asked the run to stop.
    Stopped,
    /// A replayed case did not fail in any attempt.
    ReplayPassed,
    /// The run stopped at a finding about an answer that did not hold up when narrowed
    /// (no case failed again alone, or only the blob sent whole did): not reported.
    Unconfirmed,
}

/// Stops a run from another thread (a signal handler, a watchdog): the run ends cleanly,
/// as if its time budget had run out, and reports [`RunEnd::Stopped`].
///
/// ```
/// use stutterfuzz::StopHandle;
///
/// let stop = StopHandle::new();
/// let for_handler = stop.clone();
/// for_handler.stop();
/// assert!(stop.is_stopped());
/// ```
#[derive(Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// A handle that has not been stopped.
    pub fn new() -> Self {
        StopHandle(Arc::new(watch::Sender::new(false)))
    }

    /// Asks every run holding this handle to stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the handle is stopped.
    pub(crate) async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

impl Default for StopHandle {
    fn default() -> Self {
        StopHandle::new()
    }
}

impl fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopHandle")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// A callback that receives the stats at a fixed interval.
#[derive(Clone)]
pub(crate) struct ProgressHook {
    pub(crate) every: Duration,
    pub(crate) callback: Arc<dyn Fn(&Stats) + Send + Sync>,
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressHook")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// Steering a run from outside it: a [`StopHandle`] that ends it cleanly, a callback that
/// hears its stats as it goes (the library itself never prints), a record of its deliveries,
/// and the command its reports show for a replay. Default: none of them.
///
/// ```
/// use std::time::Duration;
/// use stutterfuzz::{RunControl, StopHandle, Stutter};
///
/// let stop = StopHandle::new();
/// let fuzz = Stutter::new("127.0.0.1:6789").control(
///     RunControl::default()
///         .stop(stop.clone())
///         .progress(Duration::from_secs(1), |stats| eprintln!("{stats}")),
/// );
/// # let _ = fuzz;
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunControl {
    pub(crate) stop: Option<StopHandle>,
    pub(crate) progress: Option<ProgressHook>,
    pub(crate) record: Option<PathBuf>,
    pub(crate) rerun: Option<String>,
}

impl RunControl {
    /// Lets another thread stop the run cleanly through `handle`.
    pub fn stop(mut self, handle: StopHandle) -> Self {
        self.stop = Some(handle);
        self
    }

    /// Calls `callback` with the stats every `every` (at least 10 ms) while fuzzing.
    pub fn progress(
        mut self,
        every: Duration,
        callback: impl Fn(&Stats) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(ProgressHook {
            every: every.max(Duration::from_millis(10)),
            callback: Arc::new(callback),
        });
        self
    }

    /// Writes one line per finished delivery to `path`: the connection's local port, the
    /// chunk sizes the kernel accepted (`-` for none), the blob's length and name; lines
    /// starting with `#` are comments. Compare it with your server's own log of reads to see
    /// what it really got. Default: no record.
    pub fn record(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    /// The command a report shows for replaying a case, with `{case}` where the quoted case
    /// string goes. Default: `STUTTERFUZZ_REPLAY={case} cargo test <this test's name>`.
    pub fn rerun_command(mut self, template: impl Into<String>) -> Self {
        self.rerun = Some(template.into());
        self
    }
}

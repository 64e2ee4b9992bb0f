//! Steering a run from outside: stopping it early and watching its progress.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::stats::Stats;

/// Stops a run from another thread (a signal handler, a watchdog): the run ends cleanly,
/// as if its time budget had run out, and reports [`RunEnd::Stopped`](crate::RunEnd).
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

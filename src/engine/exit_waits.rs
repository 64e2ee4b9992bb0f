//! How long the harness watches for the server's exit, at each moment it asks, and why each
//! wait is that long: in one place, since a wait too short misses a crash a moment behind
//! its cause, and one too long slows every delivery it follows.

use std::time::Duration;

use tokio::time::timeout;

use crate::server::{Exit, Server};

/// After a connection error, or an alarm line (a panic printed a moment before the process
/// ends): the error or the line is taken as the finding itself only when the server is not
/// seen exiting within this.
pub(crate) const EXIT_GRACE: Duration = Duration::from_millis(300);

/// After the last delivery of a run or a replay, and after a delivery whose answer was
/// short or wrong (a crash handler's close may come before the exit): a late crash shows
/// within this.
pub(crate) const FINAL_SETTLE: Duration = Duration::from_millis(100);

/// After a delivery the server answered in full and closed cleanly: it read everything and
/// answered, so a crash would already show; only a look.
pub(crate) const CLEAN_SETTLE: Duration = Duration::from_millis(5);

/// After each delivery the verdict gate makes alone: short, as the gate makes many.
pub(crate) const CONFIRM_SETTLE: Duration = Duration::from_millis(20);

/// A refused connect from a server that may be ending (its socket closes a moment before
/// the process ends, more so for an interpreter tearing down): the end shows within this.
pub(crate) const REFUSED_EXIT_WAIT: Duration = Duration::from_millis(500);

/// When a client run ends, the server it started: one that is ending (a process takes some
/// milliseconds to exit) counts as one that ended during the run.
pub(crate) const RUN_END_SETTLE: Duration = Duration::from_millis(100);

/// Waits up to `within` for the server to exit.
pub(crate) async fn exit_within(server: Option<&mut Server>, within: Duration) -> Option<Exit> {
    let server = server?;
    if within.is_zero() {
        // Only a look: a zero timeout would still wait for the timer's next tick (1 ms).
        return server.try_exited();
    }
    timeout(within, server.exited()).await.ok()
}

//! Where a run gets a thread and a runtime of its own: the blocking entry points and a
//! [`RunningServer`](crate::RunningServer) each run on one, so they work from a plain `#[test]`
//! and from a multi-threaded runtime alike. The one place that builds them, and says why it
//! could not.

use crate::error::{SetupError, SetupErrorKind};

/// A thread builder named `name`.
pub(crate) fn named(name: &str) -> std::thread::Builder {
    std::thread::Builder::new().name(name.to_owned())
}

/// The setup error for a thread that could not be started.
pub(crate) fn thread_error(what: &str, e: std::io::Error) -> SetupError {
    SetupError::new(
        SetupErrorKind::Harness,
        format!("cannot start the {what}'s thread: {e}"),
    )
    .with_source(e)
}

/// A current-thread runtime with every driver on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, SetupError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            SetupError::new(
                SetupErrorKind::Harness,
                format!("cannot start the tokio runtime: {e}"),
            )
            .with_source(e)
        })
}

/// Refuses to block the only thread of a current-thread runtime: a server (or anything
/// else) on that runtime would never run while the run waits for it.
pub(crate) fn may_block(entry: &str, instead: &str) -> Result<(), SetupError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::CurrentThread => {
            Err(SetupError::new(
                SetupErrorKind::Harness,
                format!(
                    "{entry} would block the only thread of the current tokio runtime (a \
                     #[tokio::test] has one), so nothing else on it could run: call \
                     .{instead}(..).await instead"
                ),
            ))
        }
        _ => Ok(()),
    }
}

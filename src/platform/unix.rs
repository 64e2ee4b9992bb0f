//! Signals, process groups, error numbers and the open-file limit, on any Unix.

use std::io;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Asks every process in group `group` to stop (SIGTERM).
pub(crate) fn terminate_group(group: u32) {
    let _ = killpg(Pid::from_raw(group as i32), Signal::SIGTERM);
}

/// Kills every process in group `group` (SIGKILL).
pub(crate) fn kill_group(group: u32) {
    let _ = killpg(Pid::from_raw(group as i32), Signal::SIGKILL);
}

/// `SIGABRT` for 6.
pub(crate) fn signal_name(number: i32) -> Option<&'static str> {
    Signal::try_from(number).ok().map(Signal::as_str)
}

/// The machine has no free local port for another connection (many in TIME_WAIT).
pub(crate) fn is_out_of_local_ports(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EADDRNOTAVAIL)
}

/// A connect failed on the harness's own side (no local port, no descriptor, no memory),
/// not because of the server.
pub(crate) fn is_local_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL | libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The open-file limit: (soft, hard).
pub(crate) fn open_file_limits() -> Option<(u64, u64)> {
    getrlimit(Resource::RLIMIT_NOFILE).ok()
}

/// Raises the soft open-file limit to `soft` (at most the hard limit `hard`); false if the
/// system refused.
pub(crate) fn raise_open_file_limit(soft: u64, hard: u64) -> bool {
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).is_ok()
}

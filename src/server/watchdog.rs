//! A watchdog for the server's process group, for the one ending the harness cannot handle
//! itself: being killed. The parent-death signal kills the server, but not what the server
//! started; so a tiny `sh` outside the group waits on a pipe the harness holds, and when the
//! harness dies (the kernel closes the pipe) it kills the whole group. On every other ending
//! the harness kills the watchdog first, then stops the server.

use std::io::PipeWriter;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// The running watchdog and the pipe end that keeps it waiting.
pub(crate) struct Watchdog {
    child: Child,
    _keepalive: PipeWriter,
}

impl Watchdog {
    /// Starts a watchdog for process group `group`; `None` if it cannot start (the server
    /// still has the parent-death signal, on Linux). Needs a tokio runtime.
    pub(crate) fn start(group: u32) -> Option<Watchdog> {
        // Both ends close on exec: only the watchdog gets the read end, as its stdin.
        let (read, write) = std::io::pipe().ok()?;
        let child = Command::new("sh")
            .args([
                "-c",
                "read _ ; kill -KILL -\"$1\" 2>/dev/null",
                "stutterfuzz-watchdog",
            ])
            .arg(group.to_string())
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        Some(Watchdog {
            child,
            _keepalive: write,
        })
    }

    /// Ends the watchdog without letting it act (the harness stops the server itself).
    /// Never blocks: tokio reaps the killed process in the background.
    pub(crate) fn dismiss(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.dismiss();
    }
}

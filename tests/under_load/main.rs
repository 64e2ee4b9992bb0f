//! Correct servers with two CPU-bound processes beside each run: no finding. A binary of its
//! own, so that the load falls on these tests alone (cargo runs test binaries one after
//! another), never on the timing of the others in `tests/it`.

// The helpers of `tests/it`, of which these tests use some.
#[allow(dead_code)]
#[path = "../it/common.rs"]
mod common;
mod false_alarms;
mod real_false_alarms;

use common::KillOnDrop;

/// Processes that keep the CPUs busy while a test runs, as other jobs do on a shared CI
/// machine: started by the test, ended (by PID) and reaped when the guard drops.
pub(crate) struct CpuHogs {
    _busy: Vec<KillOnDrop>,
}

impl CpuHogs {
    /// `n` busy loops.
    pub(crate) fn start(n: usize) -> Self {
        let busy = (0..n)
            .map(|_| {
                let child = std::process::Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .expect("sh starts");
                KillOnDrop(child)
            })
            .collect();
        CpuHogs { _busy: busy }
    }
}

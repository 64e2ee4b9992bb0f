//! The server under test: a child process or a future in this process. A process is
//! spawned in its own process group under a supervisor that owns every process it starts
//! (daemons too), its output drained concurrently into bounded buffers, watched while it
//! starts, and stopped (SIGTERM, a grace period, SIGKILL to the whole group, then every
//! process it left) when the run ends, however the run ends.
//!
//! The builder keeps a [`ProgramSpec`] (plain data), never a live handle, so a run can be
//! repeated: replay and shrinking spawn the same server again.

mod in_process;
mod output;
mod panic_text;
mod process;
mod spec;
mod valgrind;

use crate::error::{SetupError, SetupErrorKind};
use std::process::ExitStatus;
use std::time::Duration;

pub(crate) use in_process::{InProcessServer, ServeFn, TaskEnd, keep_server_panics};
pub(crate) use output::{Alarm, AlarmSource, OutputSnapshot};
pub(crate) use process::{ServerProcess, accepts, describe_exit};

/// How a server ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// A spawned process exited or died.
    Process(ExitStatus),
    /// An in-process server's future ended.
    Task(TaskEnd),
}

/// Something the server did that the run loop must see.
#[derive(Debug)]
pub(crate) enum ServerEvent {
    /// It ended.
    Exited(Exit),
    /// It printed an alarming line (or, in process, a task panicked).
    Printed(Alarm),
}

/// The server as a report shows it: how it was started and what it printed.
#[derive(Clone, Debug)]
pub(crate) struct ServerSummary {
    pub(crate) command: String,
    pub(crate) pid: Option<u32>,
    pub(crate) stdout: OutputSnapshot,
    pub(crate) stderr: OutputSnapshot,
}

/// The setup error of a server that ended (`exit`) before the first delivery: it served
/// nobody (a placeholder future that returns, a process that exits once it accepted).
pub(crate) fn served_nobody(exit: Exit, summary: &ServerSummary) -> SetupError {
    let message = match exit {
        Exit::Task(TaskEnd::Returned) => "the in-process server's future returned before the first delivery: \
             it must serve connections from the listener it is given (a loop over `listener.accept()`) \
             until the harness stops it"
            .to_owned(),
        Exit::Task(TaskEnd::Panicked(message)) => {
            format!("the in-process server panicked before the first delivery: {message}")
        }
        Exit::Process(status) => {
            let mut message = format!(
                "server `{}` {} before the first delivery, once it had accepted a connection: \
                 it must keep serving until the harness stops it (run it in the foreground)",
                summary.command,
                describe_exit(status)
            );
            if !summary.stderr.is_empty() {
                message.push_str("\nserver stderr:\n");
                message.push_str(&summary.stderr.indented());
            }
            message
        }
    };
    SetupError::new(SetupErrorKind::ServerStartup, message)
}

impl ServerSummary {
    /// A note when the server printed exception traces that are no finding: how many, the
    /// first, and how to make them findings.
    pub(crate) fn trace_hint(&self) -> Option<String> {
        let (stderr, stdout) = (&self.stderr.traces, &self.stdout.traces);
        let count = stderr.count + stdout.count;
        let (line, pattern) = stderr.first.as_ref().or(stdout.first.as_ref())?;
        let word = pattern
            .split(' ')
            .next()
            .unwrap_or(pattern)
            .trim_end_matches(':');
        Some(format!(
            "the server printed {count} exception trace(s), which are no finding by default (the first: {:?}); \
             --fail-on-output '{word}' or .output(OutputRules::default().fail_on(\"{word}\")) makes them findings",
            line.trim()
        ))
    }
}

/// The server under test: a spawned process or a future in this process.
pub(crate) enum Server {
    Process(Box<ServerProcess>),
    InProcess(InProcessServer),
}

impl Server {
    /// How it ended, if it has (without waiting).
    pub(crate) fn try_exited(&mut self) -> Option<Exit> {
        match self {
            Server::Process(p) => p.try_exited().map(Exit::Process),
            Server::InProcess(s) => s.try_ended().map(Exit::Task),
        }
    }

    /// Resolves when it ends. Cancel-safe.
    pub(crate) async fn exited(&mut self) -> Exit {
        match self {
            Server::Process(p) => Exit::Process(p.exited().await),
            Server::InProcess(s) => Exit::Task(s.ended().await),
        }
    }

    /// Resolves with the next thing it does: end, or report an alarm. Cancel-safe.
    pub(crate) async fn event(&mut self) -> ServerEvent {
        match self {
            Server::Process(p) => p.event().await,
            Server::InProcess(s) => match s.event().await {
                Ok(end) => ServerEvent::Exited(Exit::Task(end)),
                Err(alarm) => ServerEvent::Printed(alarm),
            },
        }
    }

    pub(crate) fn take_alarm(&mut self) -> Option<Alarm> {
        match self {
            Server::Process(p) => p.take_alarm(),
            Server::InProcess(s) => s.take_alarm(),
        }
    }

    pub(crate) fn arm_output_watch(&self) {
        if let Server::Process(p) = self {
            p.arm_output_watch();
        }
    }

    /// Stops it; returns how it ended if it had ended on its own before.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Option<Exit> {
        match self {
            Server::Process(p) => p.stop(grace).await.map(Exit::Process),
            Server::InProcess(s) => {
                let ended = s.try_ended().map(Exit::Task);
                s.stop(grace).await;
                ended
            }
        }
    }

    /// What a report shows of it.
    /// What a report shows of the server once it may have exited: a server that exited has
    /// its output read to the end of its pipes first (a moment at most), so its last lines,
    /// printed as it died, are in it.
    pub(crate) async fn settled_summary(&mut self) -> ServerSummary {
        if let Server::Process(p) = self
            && p.try_exited().is_some()
        {
            p.settle_output().await;
        }
        self.summary()
    }

    pub(crate) fn summary(&self) -> ServerSummary {
        match self {
            Server::Process(p) => ServerSummary {
                command: p.command_line().to_owned(),
                pid: Some(p.pid()),
                stdout: p.stdout(),
                stderr: p.stderr(),
            },
            Server::InProcess(s) => ServerSummary {
                command: format!("in-process server on {}", s.addr()),
                pid: None,
                stdout: OutputSnapshot::default(),
                stderr: OutputSnapshot::default(),
            },
        }
    }
}
pub(crate) use spec::ProgramSpec;
pub use valgrind::{VALGRIND_FLAGS, valgrind};

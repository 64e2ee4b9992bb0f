//! A running server: spawn, readiness, exit watching, stop and reap.

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::output::{Alarm, AlarmSink, AlarmSource, OutputLog, OutputSnapshot, drain};
use super::spec::ServerSpec;
use super::watchdog::Watchdog;
use super::{Exit, ServerEvent};
use crate::config::OutputWatch;
use crate::error::{SetupError, SetupErrorKind};
use crate::platform::{kill_group, parent_death_signal, signal_name, terminate_group};

/// How long the output drains may take to reach the end of the pipes after the server
/// stopped, before a report is made with what they have.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// The spawned server.
pub(crate) struct ServerProcess {
    child: Child,
    pid: u32,
    command_line: String,
    stdout: Arc<Mutex<OutputLog>>,
    stderr: Arc<Mutex<OutputLog>>,
    drains: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    armed: Arc<AtomicBool>,
    alarms: mpsc::UnboundedReceiver<Alarm>,
    /// `stop` ran: later calls do nothing.
    stopped: bool,
    /// Kills the group if the harness itself is killed.
    watchdog: Option<Watchdog>,
}

impl ServerProcess {
    /// Spawns the server in its own process group, stdout and stderr piped and drained.
    ///
    /// On Linux the server also gets SIGKILL when the thread that spawned it ends; with the
    /// watchdog, it dies with the harness even if the harness itself is killed.
    pub(crate) fn spawn(
        spec: &ServerSpec,
        addr: SocketAddr,
        watch: Option<OutputWatch>,
    ) -> Result<Self, SetupError> {
        let command_line = spec.display(addr);
        let mut command = tokio::process::Command::from(spec.command(addr));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        parent_death_signal(&mut command);
        let mut child = command.spawn().map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => "check the path, or build it first",
                std::io::ErrorKind::PermissionDenied => "check that it is executable",
                _ => "check the command",
            };
            SetupError::new(
                SetupErrorKind::ServerSpawn,
                format!(
                    "cannot start server {:?}: {e}; {hint}",
                    spec.program().to_string_lossy()
                ),
            )
            .with_source(e)
        })?;
        let pid = child.id().unwrap_or(0);
        let stdout = Arc::new(Mutex::new(OutputLog::default()));
        let stderr = Arc::new(Mutex::new(OutputLog::default()));
        let armed = Arc::new(AtomicBool::new(false));
        let (sender, alarms) = mpsc::unbounded_channel();
        let sink = watch.map(|watch| AlarmSink {
            watch: Arc::new(watch),
            armed: Arc::clone(&armed),
            alarms: sender,
        });
        let mut drains = Vec::new();
        if let Some(out) = child.stdout.take() {
            drains.push(tokio::spawn(drain(
                out,
                AlarmSource::Stdout,
                Arc::clone(&stdout),
                sink.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            drains.push(tokio::spawn(drain(
                err,
                AlarmSource::Stderr,
                Arc::clone(&stderr),
                sink,
            )));
        }
        Ok(ServerProcess {
            child,
            pid,
            command_line,
            stdout,
            stderr,
            drains,
            status: None,
            armed,
            alarms,
            stopped: false,
            watchdog: Watchdog::start(pid),
        })
    }

    /// The command line it was started with.
    pub(crate) fn command_line(&self) -> &str {
        &self.command_line
    }

    /// The server's process id (also its process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until `addr` accepts a connection, watching the child: if it exits first, or
    /// nothing accepts within `limit`, a setup error with its status and output.
    pub(crate) async fn wait_ready(
        &mut self,
        addr: SocketAddr,
        limit: Duration,
    ) -> Result<(), SetupError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exited() {
                self.settle_output().await;
                return Err(self.startup_error(format!(
                    "server `{}` {} before it accepted connections on {addr}",
                    self.command_line,
                    describe_exit(status)
                )));
            }
            let attempt = timeout(
                Duration::from_millis(250),
                tokio::net::TcpStream::connect(addr),
            );
            if let Ok(Ok(_probe)) = attempt.await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop(Duration::from_secs(1)).await;
                return Err(self.startup_error(format!(
                    "server `{}` did not accept connections on {addr} within {}; \
                     check that it listens on the address it is given ({{addr}}, {{port}} or \
                     STUTTERFUZZ_ADDR), or raise the startup timeout (.startup_timeout / --startup-timeout)",
                    self.command_line,
                    humantime::format_duration(limit)
                )));
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    fn startup_error(&self, headline: String) -> SetupError {
        let mut message = headline;
        let stderr = self.stderr();
        if !stderr.is_empty() {
            message.push_str("\nserver stderr:\n");
            message.push_str(&stderr.indented());
        }
        SetupError::new(SetupErrorKind::ServerStartup, message)
    }

    /// The exit status, if the server has exited (reaping it).
    pub(crate) fn try_exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// From now on, alarming output lines are events (they are not while it starts).
    pub(crate) fn arm_output_watch(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Resolves with the next thing the server does: exit, or print an alarming line.
    /// Cancel-safe.
    pub(crate) async fn event(&mut self) -> ServerEvent {
        if let Some(status) = self.status {
            return ServerEvent::Exited(Exit::Process(status));
        }
        let (alarms, child, slot) = (&mut self.alarms, &mut self.child, &mut self.status);
        tokio::select! {
            Some(alarm) = alarms.recv() => ServerEvent::Printed(alarm),
            status = wait_child(child, slot) => ServerEvent::Exited(Exit::Process(status)),
        }
    }

    /// An alarming line printed since the watch was armed, if any (without waiting).
    pub(crate) fn take_alarm(&mut self) -> Option<Alarm> {
        self.alarms.try_recv().ok()
    }

    /// Resolves when the server exits. Cancel-safe.
    pub(crate) async fn exited(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        wait_child(&mut self.child, &mut self.status).await
    }

    /// Stops the whole process group: SIGTERM, up to `grace` for the server to exit, then
    /// SIGKILL; reaps the server. Returns the status if the server had already exited on
    /// its own before the stop.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if std::mem::replace(&mut self.stopped, true) {
            return None;
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.dismiss();
        }
        let exited_before = self.try_exited();
        if exited_before.is_none() {
            terminate_group(self.pid);
            if timeout(grace, self.exited()).await.is_err() {
                kill_group(self.pid);
                let _ = self.exited().await;
            }
        }
        // Children the server left in its group (the leader is gone, the group may not be).
        kill_group(self.pid);
        self.settle_output().await;
        exited_before
    }

    /// Gives the output drains a moment to reach the end of the pipes.
    async fn settle_output(&mut self) {
        for mut drain in std::mem::take(&mut self.drains) {
            if timeout(DRAIN_GRACE, &mut drain).await.is_err() {
                drain.abort();
            }
        }
    }

    pub(crate) fn stderr(&self) -> OutputSnapshot {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }

    pub(crate) fn stdout(&self) -> OutputSnapshot {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }
}

impl Drop for ServerProcess {
    /// The last line of defence (a panic or an early return skipped `stop`): kill the group
    /// at once. Never panics.
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.dismiss();
        }
        if self.status.is_none() && self.pid != 0 {
            kill_group(self.pid);
            let _ = self.child.start_kill();
            let _ = self.child.try_wait();
        }
        for drain in &self.drains {
            drain.abort();
        }
    }
}

/// Waits for `child` to exit and records its status in `slot`. Cancel-safe.
async fn wait_child(child: &mut Child, slot: &mut Option<ExitStatus>) -> ExitStatus {
    match child.wait().await {
        Ok(status) => {
            *slot = Some(status);
            status
        }
        // Waiting failed: the child is not ours to watch any more; never resolve.
        Err(_) => std::future::pending().await,
    }
}

/// "exited with status 3", "was killed by SIGABRT (core dumped)".
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(n) => {
            let name = signal_name(n).map_or_else(|| format!("signal {n}"), str::to_owned);
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("was killed by {name}{core}")
        }
        None => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_by_code_or_signal_name() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(6)),
            "was killed by SIGABRT"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(11 | 0x80)),
            "was killed by SIGSEGV (core dumped)"
        );
    }
}

//! A running server: spawn, readiness, exit watching, stop and reap.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::output::{Alarm, AlarmSink, AlarmSource, OutputLog, OutputSnapshot, drain};
use super::spec::ProgramSpec;
use super::{Exit, ServerEvent};
use crate::config::{Endpoint, OutputWatch};
use crate::error::{SetupError, SetupErrorKind};
use crate::platform::{Supervisor, kill_group, signal_name, spawn_supervised, terminate_group};

/// How long the output drains may take to reach the end of the pipes after the server
/// stopped, before a report is made with what they have.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// How long a server that exited with status 0 before it was ready is given for what it
/// left behind to start accepting connections, when telling a daemon from a server that
/// just quit.
const DAEMON_GRACE: Duration = Duration::from_secs(2);

/// The spawned server.
pub(crate) struct ServerProcess {
    /// Starts the server, reports its status, and ends every process it started.
    supervisor: Supervisor,
    pid: u32,
    command_line: String,
    stdout: Arc<Mutex<OutputLog>>,
    stderr: Arc<Mutex<OutputLog>>,
    drains: Vec<JoinHandle<()>>,
    armed: Arc<AtomicBool>,
    alarms: mpsc::UnboundedReceiver<Alarm>,
    /// `stop` ran: later calls do nothing.
    stopped: bool,
}

impl ServerProcess {
    /// Spawns the server in its own process group under a supervisor that owns every process
    /// it starts (see [`Supervisor`]), stdout and stderr piped and drained.
    pub(crate) async fn spawn(
        spec: &ProgramSpec,
        addr: &Endpoint,
        watch: Option<OutputWatch>,
    ) -> Result<Self, SetupError> {
        let command_line = spec.display(addr);
        let spawned = match spec.exec(addr) {
            Ok(exec) => spawn_supervised(&exec).await,
            Err(e) => Err(e),
        };
        let spawned = spawned.map_err(|e| {
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
        let pid = spawned.supervisor.server_pid();
        let stdout = Arc::new(Mutex::new(OutputLog::default()));
        let stderr = Arc::new(Mutex::new(OutputLog::default()));
        let armed = Arc::new(AtomicBool::new(false));
        let (sender, alarms) = mpsc::unbounded_channel();
        let sink = watch.map(|watch| AlarmSink {
            watch: Arc::new(watch),
            armed: Arc::clone(&armed),
            alarms: sender,
        });
        let drains = vec![
            tokio::spawn(drain(
                spawned.stdout,
                AlarmSource::Stdout,
                Arc::clone(&stdout),
                sink.clone(),
            )),
            tokio::spawn(drain(
                spawned.stderr,
                AlarmSource::Stderr,
                Arc::clone(&stderr),
                sink,
            )),
        ];
        Ok(ServerProcess {
            supervisor: spawned.supervisor,
            pid,
            command_line,
            stdout,
            stderr,
            drains,
            armed,
            alarms,
            stopped: false,
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
        addr: &Endpoint,
        limit: Duration,
    ) -> Result<(), SetupError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exited() {
                if let Some(error) = self.went_background(addr, DAEMON_GRACE).await {
                    return Err(error);
                }
                self.stop(Duration::from_secs(1)).await;
                return Err(self.startup_error(format!(
                    "server `{}` {} before it accepted connections on {addr}",
                    self.command_line,
                    describe_exit(status)
                )));
            }
            if accepts(addr, Duration::from_millis(250)).await {
                // A server that went into the background may have exited just before what
                // it left behind accepted: that is no ready server.
                tokio::task::yield_now().await;
                if self.try_exited().is_none() {
                    return Ok(());
                }
                continue;
            }
            if Instant::now() >= deadline {
                self.stop(Duration::from_secs(1)).await;
                let given = match addr {
                    Endpoint::Tcp(_) => "{addr}, {port} or STUTTERFUZZ_ADDR",
                    Endpoint::Unix(_) => "{path} or STUTTERFUZZ_PATH",
                };
                return Err(self.startup_error(format!(
                    "server `{}` did not accept connections on {addr} within {}; \
                     check that it listens on the address it is given ({given}), or raise the \
                     startup timeout (Timeouts::startup / --startup-timeout)",
                    self.command_line,
                    humantime::format_duration(limit)
                )));
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the server went into the background: it exited with status 0, and something
    /// it started accepts connections on `addr` (within `limit`). If so, stops that too and
    /// says what to do.
    pub(crate) async fn went_background(
        &mut self,
        addr: &Endpoint,
        limit: Duration,
    ) -> Option<SetupError> {
        let exited = self.try_exited()?;
        if !exited.success() || !accepts_within(addr, limit).await {
            return None;
        }
        self.stop(Duration::from_secs(1)).await;
        Some(self.startup_error(self.background_message(addr)))
    }

    fn background_message(&self, addr: &Endpoint) -> String {
        format!(
            "server `{}` went into the background: it exited with status 0 and a process it \
             started listens on {addr}; run it in the foreground (most servers have an option \
             for it, e.g. `--daemonize no` for redis-server), so that stutterfuzz sees it \
             crash. The background process was stopped",
            self.command_line
        )
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

    /// The exit status, if the server has exited.
    pub(crate) fn try_exited(&mut self) -> Option<ExitStatus> {
        self.supervisor.try_wait()
    }

    /// From now on, alarming output lines are events (they are not while it starts).
    pub(crate) fn arm_output_watch(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Resolves with the next thing the server does: exit, or print an alarming line.
    /// Cancel-safe.
    pub(crate) async fn event(&mut self) -> ServerEvent {
        let (alarms, supervisor) = (&mut self.alarms, &mut self.supervisor);
        tokio::select! {
            Some(alarm) = alarms.recv() => ServerEvent::Printed(alarm),
            status = supervisor.wait() => ServerEvent::Exited(Exit::Process(status)),
        }
    }

    /// An alarming line printed since the watch was armed, if any (without waiting).
    pub(crate) fn take_alarm(&mut self) -> Option<Alarm> {
        self.alarms.try_recv().ok()
    }

    /// Resolves when the server exits. Cancel-safe.
    pub(crate) async fn exited(&mut self) -> ExitStatus {
        self.supervisor.wait().await
    }

    /// Stops the server's process group (SIGTERM, up to `grace` for the server to exit, then
    /// SIGKILL), then every process it started, wherever it went. Returns the status if the
    /// server had already exited on its own before the stop.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if std::mem::replace(&mut self.stopped, true) {
            return None;
        }
        let exited_before = self.try_exited();
        for log in [&self.stdout, &self.stderr] {
            log.lock().unwrap_or_else(|e| e.into_inner()).stopping();
        }
        if exited_before.is_none() {
            terminate_group(self.pid);
            if timeout(grace, self.exited()).await.is_err() {
                // A stopped (frozen) server ignores SIGTERM until continued; SIGKILL ends it.
                kill_group(self.pid);
                let _ = timeout(grace, self.exited()).await;
            }
        }
        // Children the server left in its group, and daemons that left it.
        kill_group(self.pid);
        self.supervisor.finish().await;
        self.settle_output().await;
        exited_before
    }

    /// Gives the output drains a moment to reach the end of the pipes.
    pub(crate) async fn settle_output(&mut self) {
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
    /// at once; dropping the supervisor makes it end every other process the server
    /// started. Never panics.
    fn drop(&mut self) {
        if !self.stopped && self.pid != 0 {
            kill_group(self.pid);
        }
        for drain in &self.drains {
            drain.abort();
        }
    }
}

/// True when something listening on `addr` accepts a connection within `limit`. A
/// connection to itself does not count: a connect to a port nobody listens on can pick that
/// very port as its own and "succeed" (TCP simultaneous open).
pub(crate) async fn accepts(addr: &Endpoint, limit: Duration) -> bool {
    match addr {
        Endpoint::Tcp(addr) => match timeout(limit, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream.local_addr().ok() != Some(*addr),
            _ => false,
        },
        // A full listen queue (`EAGAIN`) is a server listening too.
        Endpoint::Unix(path) => match timeout(limit, tokio::net::UnixStream::connect(path)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::WouldBlock,
            Err(_) => false,
        },
    }
}

/// True when `addr` accepts a connection within `limit`, trying again until then.
async fn accepts_within(addr: &Endpoint, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if accepts(addr, Duration::from_millis(250)).await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(50)).await;
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

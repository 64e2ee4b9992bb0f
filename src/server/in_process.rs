//! A server that is a future in the test's own process: the harness binds the listener (no
//! free-port race) and runs the future on a runtime of its own, whose threads are named so
//! that a panic in any of the server's tasks is caught by a panic hook and becomes a finding.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::output::{Alarm, AlarmSource};
use crate::error::{SetupError, SetupErrorKind};

/// The user's server: given a bound listener, serve on it.
pub(crate) type ServeFn =
    Arc<dyn Fn(tokio::net::TcpListener) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

const THREAD_PREFIX: &str = "stutterfuzz-server-";

/// Where the panic hook sends the panics of each in-process server, by instance id.
fn panic_sinks() -> &'static Mutex<HashMap<u64, mpsc::UnboundedSender<Alarm>>> {
    static SINKS: OnceLock<Mutex<HashMap<u64, mpsc::UnboundedSender<Alarm>>>> = OnceLock::new();
    SINKS.get_or_init(Default::default)
}

/// Installs (once) a panic hook that reports panics on in-process server threads, then
/// hands every panic to the hook that was there before.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            if let Some(id) = thread
                .name()
                .and_then(|n| n.strip_prefix(THREAD_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|id| id.parse::<u64>().ok())
            {
                let line = format!(
                    "thread '{}' panicked at {}",
                    thread.name().unwrap_or_default(),
                    info.location().map(ToString::to_string).unwrap_or_default()
                );
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                if let Some(sink) = panic_sinks()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&id)
                {
                    let _ = sink.send(Alarm {
                        source: AlarmSource::TaskPanic,
                        line: format!("{line}: {message}"),
                        pattern: "panicked at".to_owned(),
                    });
                }
            }
            previous(info);
        }));
    });
}

/// How an in-process server ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TaskEnd {
    /// Its future returned.
    Returned,
    /// Its future panicked.
    Panicked(String),
}

/// A running in-process server.
pub(crate) struct InProcessServer {
    id: u64,
    runtime: Option<tokio::runtime::Runtime>,
    task: Option<JoinHandle<()>>,
    end: Option<TaskEnd>,
    alarms: mpsc::UnboundedReceiver<Alarm>,
    addr: SocketAddr,
}

impl InProcessServer {
    /// Runs `serve` on a duplicate of `listener` on a new runtime. The caller keeps the
    /// original open, so a restart serves the same socket: no rebinding, no port race.
    pub(crate) fn start(
        serve: &ServeFn,
        listener: &std::net::TcpListener,
    ) -> Result<Self, SetupError> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        install_panic_hook();
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let harness_error = |what: &str, e: std::io::Error| {
            SetupError::new(
                SetupErrorKind::ServerSpawn,
                format!("cannot start the in-process server: {what}: {e}"),
            )
            .with_source(e)
        };
        let addr = listener
            .local_addr()
            .map_err(|e| harness_error("no address", e))?;
        let listener = listener
            .try_clone()
            .map_err(|e| harness_error("listener", e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name_fn(move || {
                static N: AtomicU64 = AtomicU64::new(0);
                format!("{THREAD_PREFIX}{id}-{}", N.fetch_add(1, Ordering::Relaxed))
            })
            .enable_all()
            .build()
            .map_err(|e| harness_error("no runtime", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| harness_error("listener", e))?;
        let (sink, alarms) = mpsc::unbounded_channel();
        panic_sinks()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, sink);
        let serve = Arc::clone(serve);
        let task = {
            let _entered = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| harness_error("listener", e))?;
            runtime.spawn(async move { serve(listener).await })
        };
        Ok(InProcessServer {
            id,
            runtime: Some(runtime),
            task: Some(task),
            end: None,
            alarms,
            addr,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How it ended, if it has (without waiting).
    pub(crate) fn try_ended(&mut self) -> Option<TaskEnd> {
        if self.end.is_none() && self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            // Finished: polling once more resolves at once.
            let task = self.task.take()?;
            self.end = Some(match futures_now(task) {
                Some(Err(e)) if e.is_panic() => TaskEnd::Panicked(panic_text(e.into_panic())),
                _ => TaskEnd::Returned,
            });
        }
        self.end.clone()
    }

    /// Resolves when the server's future ends. Cancel-safe.
    pub(crate) async fn ended(&mut self) -> TaskEnd {
        if let Some(end) = self.try_ended() {
            return end;
        }
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let end = match task.await {
            Err(e) if e.is_panic() => TaskEnd::Panicked(panic_text(e.into_panic())),
            _ => TaskEnd::Returned,
        };
        self.task = None;
        self.end = Some(end.clone());
        end
    }

    pub(crate) fn take_alarm(&mut self) -> Option<Alarm> {
        self.alarms.try_recv().ok()
    }

    /// Resolves when the server's future ends (`Ok`) or one of its tasks panics (`Err`).
    /// Cancel-safe.
    pub(crate) async fn event(&mut self) -> Result<TaskEnd, Alarm> {
        if let Some(end) = self.try_ended() {
            return Ok(end);
        }
        let (task, alarms) = (&mut self.task, &mut self.alarms);
        let ended = tokio::select! {
            Some(alarm) = alarms.recv() => return Err(alarm),
            joined = async {
                match task.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            } => joined,
        };
        let end = match ended {
            Err(e) if e.is_panic() => TaskEnd::Panicked(panic_text(e.into_panic())),
            _ => TaskEnd::Returned,
        };
        self.task = None;
        self.end = Some(end.clone());
        Ok(end)
    }

    /// Stops the server's runtime and waits (up to `grace`) until its tasks are gone, so
    /// none of them accepts another connection.
    pub(crate) async fn stop(&mut self, grace: std::time::Duration) {
        if let Some(runtime) = self.runtime.take() {
            let _ = tokio::task::spawn_blocking(move || runtime.shutdown_timeout(grace)).await;
        }
        panic_sinks()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Drop for InProcessServer {
    /// The last line of defence: stop the runtime without waiting (dropping a runtime may
    /// not block inside another one).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        panic_sinks()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// The result of a finished task, taken without an executor.
fn futures_now(task: JoinHandle<()>) -> Option<Result<(), tokio::task::JoinError>> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut task = task;
    match Pin::new(&mut task).poll(&mut cx) {
        std::task::Poll::Ready(result) => Some(result),
        std::task::Poll::Pending => None,
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

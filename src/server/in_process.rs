//! A server that is a future in the test's own process: the harness binds the listener (no
//! free-port race) and runs the future on a runtime of its own. A panic in any of the
//! server's tasks is caught by a panic hook and becomes a finding.
//!
//! The hook is the process's, so it is scoped: it is installed when the first in-process
//! server starts and the previous hook is put back when the last one stops; it knows a
//! server's threads by their identity (registered as each thread of the server's runtime
//! starts), not by their names. It hands every other panic on to the previous hook, so the
//! test's own output is unchanged, and of the servers' panics only the process's first:
//! narrowing provokes the same panic many times, on fresh servers, and a test's output would
//! drown in their copies (each one is in its finding).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::panic::PanicHookInfo;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::thread::ThreadId;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::output::{Alarm, AlarmSource};
use crate::error::{SetupError, SetupErrorKind};

/// The user's server: given a bound listener, serve on it.
pub(crate) type ServeFn =
    Arc<dyn Fn(tokio::net::TcpListener) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// What the panic hook knows: which threads belong to which live server, and where each
/// server's panics go.
#[derive(Default)]
struct Hooked {
    threads: HashMap<ThreadId, u64>,
    sinks: HashMap<u64, mpsc::UnboundedSender<Alarm>>,
    /// A server's panic was handed on to the previous hook once: the rest are not.
    handed_on: bool,
}

fn hooked() -> MutexGuard<'static, Hooked> {
    static HOOKED: LazyLock<Mutex<Hooked>> = LazyLock::new(Mutex::default);
    // A poisoned lock only means a panic elsewhere while it was held: the map is still whole.
    HOOKED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The hook that was installed before ours, while ours is installed. Its lock is held
/// while the process's hook is changed, and never by the hook itself: a thread that panics
/// meanwhile (std holds the hook while running it) can still take [`hooked`].
fn previous_hook() -> MutexGuard<'static, Option<Arc<Hook>>> {
    static PREVIOUS: Mutex<Option<Arc<Hook>>> = Mutex::new(None);
    PREVIOUS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers server `id`'s panic sink, installing the hook if it is the first live server.
fn hook_server(id: u64, sink: mpsc::UnboundedSender<Alarm>) {
    let mut previous = previous_hook();
    hooked().sinks.insert(id, sink);
    if previous.is_none() {
        let before: Arc<Hook> = Arc::new(std::panic::take_hook());
        let forward = Arc::clone(&before);
        std::panic::set_hook(Box::new(move |info| match report_panic(info) {
            // Printed as the default hook would; a closed stderr loses only this copy (the
            // finding keeps the line).
            Some((line, true)) if KEEP_SERVER_PANICS.load(Ordering::Relaxed) => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            Some((_, true)) => forward(info),
            Some((_, false)) => {}
            None => forward(info),
        }));
        *previous = Some(before);
    }
}

/// Forgets server `id`; puts the previous hook back when no server is left. (Not while
/// this thread panics: the hook cannot be changed then, and ours only forwards.)
fn unhook_server(id: u64) {
    let mut previous = previous_hook();
    let none_left = {
        let mut state = hooked();
        state.sinks.remove(&id);
        state.threads.retain(|_, server| *server != id);
        state.sinks.is_empty()
    };
    if none_left
        && !std::thread::panicking()
        && let Some(before) = previous.take()
    {
        std::panic::set_hook(Box::new(move |info| before(info)));
    }
}

/// Set when a server's panics must not reach the hook before ours: under a fuzzer, whose
/// hook aborts the process at any panic, before the case that caused it is known.
static KEEP_SERVER_PANICS: AtomicBool = AtomicBool::new(false);

/// From now on a panic on an in-process server's thread is printed and reported as a
/// finding, and not handed on to the hook installed before ours (a fuzzer's, which aborts).
pub(crate) fn keep_server_panics() {
    KEEP_SERVER_PANICS.store(true, Ordering::Relaxed);
}

/// Sends a panic on one of a live server's threads to that server's sink, and returns its
/// line and whether it is the process's first; `None` for a panic elsewhere.
fn report_panic(info: &PanicHookInfo<'_>) -> Option<(String, bool)> {
    let thread = std::thread::current();
    let mut state = hooked();
    let sink = state
        .threads
        .get(&thread.id())
        .and_then(|id| state.sinks.get(id))?;
    let line = format!(
        "thread '{}' panicked at {}",
        thread.name().unwrap_or("<unnamed>"),
        info.location().map(ToString::to_string).unwrap_or_default()
    );
    let line = format!("{line}: {}", panic_message(info.payload()));
    let _ = sink.send(Alarm {
        source: AlarmSource::TaskPanic,
        line: line.clone(),
        pattern: "panicked at".to_owned(),
    });
    let first = !std::mem::replace(&mut state.handed_on, true);
    Some((line, first))
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
                format!(
                    "stutterfuzz-server-{id}-{}",
                    N.fetch_add(1, Ordering::Relaxed)
                )
            })
            .on_thread_start(move || {
                hooked().threads.insert(std::thread::current().id(), id);
            })
            .on_thread_stop(|| {
                hooked().threads.remove(&std::thread::current().id());
            })
            .enable_all()
            .build()
            .map_err(|e| harness_error("no runtime", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| harness_error("listener", e))?;
        let (sink, alarms) = mpsc::unbounded_channel();
        hook_server(id, sink);
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
        unhook_server(self.id);
    }
}

impl Drop for InProcessServer {
    /// The last line of defence: stop the runtime without waiting (dropping a runtime may
    /// not block inside another one).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        unhook_server(self.id);
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
    panic_message(&*payload)
}

/// A panic's message: its payload when that is text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_hook_knows_server_threads_by_identity_and_leaves_with_the_last_server() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let serve: ServeFn = Arc::new(|listener| {
                Box::pin(async move {
                    let _listener = listener;
                    tokio::spawn(async { panic!("planted in a server task") });
                    std::future::pending::<()>().await;
                })
            });
            let mut server = InProcessServer::start(&serve, &listener).unwrap();
            assert!(previous_hook().is_some(), "installed for the server");
            // A thread that only looks like one of the server's is not one.
            let impostor = std::thread::Builder::new()
                .name(format!("stutterfuzz-server-{}-0", server.id))
                .spawn(|| panic!("not the server"))
                .unwrap();
            assert!(impostor.join().is_err());
            let mut alarms = Vec::new();
            for _ in 0..200 {
                alarms.extend(std::iter::from_fn(|| server.take_alarm()));
                if !alarms.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(alarms.len(), 1, "{alarms:?}");
            assert_eq!(alarms[0].source, AlarmSource::TaskPanic);
            assert!(
                alarms[0].line.contains("planted in a server task"),
                "{alarms:?}"
            );
            server.stop(Duration::from_secs(1)).await;
        });
        assert!(previous_hook().is_none(), "the previous hook is back");
    }
}

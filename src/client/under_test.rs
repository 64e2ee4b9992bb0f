//! The client under test, run once per delivery: a process spawned with the address to
//! connect to (under the same supervisor as a server, so nothing it starts outlives the
//! run), or an async function in this process given that address.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;

use crate::config::{Endpoint, OutputWatch};
use crate::error::SetupError;
use crate::server::{OutputSnapshot, ProgramSpec, ServerProcess, describe_exit};

/// How long a client process has to end after SIGTERM once it is stopped.
const GRACE: Duration = Duration::from_millis(200);

/// An in-process client: given the address, its result as text (`{:?}`).
pub(crate) type ClientFn =
    Arc<dyn Fn(SocketAddr) -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// The client under test.
#[derive(Clone)]
pub(crate) enum UnderTest {
    Process(ProgramSpec),
    InProcess(ClientFn),
}

impl fmt::Debug for UnderTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnderTest::Process(spec) => write!(f, "Process({:?})", spec.program()),
            UnderTest::InProcess(_) => f.write_str("InProcess(..)"),
        }
    }
}

/// How one run of the client ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It exited with status 0, or returned.
    Passed,
    /// It exited otherwise, died, or panicked: how, in words.
    Failed(String),
    /// It was still running when the time was up, and was stopped.
    Hung(Duration),
}

/// What one run of the client did.
#[derive(Clone, Debug)]
pub(crate) struct ClientRun {
    pub(crate) ending: Ending,
    /// Its standard output, or the value it returned, as text.
    pub(crate) output: Vec<u8>,
    /// Its standard error (a process's).
    pub(crate) stderr: OutputSnapshot,
    /// A line of its output that marks a bug (a sanitizer report, a panic).
    pub(crate) alarm: Option<String>,
}

impl UnderTest {
    /// What a report calls it.
    pub(crate) fn describe(&self) -> String {
        match self {
            UnderTest::Process(spec) => format!("`{}`", spec.template()),
            UnderTest::InProcess(_) => "the client function in this process".to_owned(),
        }
    }

    /// Runs the client once against `addr`, for at most `limit`.
    pub(crate) async fn run(
        &self,
        addr: &Endpoint,
        limit: Duration,
        watch: &OutputWatch,
    ) -> Result<ClientRun, SetupError> {
        match self {
            UnderTest::InProcess(client) => {
                // The plan refuses a Unix socket for an in-process client.
                let Endpoint::Tcp(addr) = *addr else {
                    return Err(SetupError::new(
                        crate::error::SetupErrorKind::Client,
                        "an in-process client is given a TCP address: leave .unix out",
                    ));
                };
                let task = tokio::spawn(client(addr));
                let abort = task.abort_handle();
                let (ending, output) = match timeout(limit, task).await {
                    Ok(Ok(value)) => (Ending::Passed, value.into_bytes()),
                    Ok(Err(e)) if e.is_panic() => {
                        let message = panic_message(e.into_panic());
                        (Ending::Failed(format!("panicked: {message}")), Vec::new())
                    }
                    Ok(Err(_)) => (Ending::Failed("was cancelled".to_owned()), Vec::new()),
                    Err(_) => {
                        abort.abort();
                        (Ending::Hung(limit), Vec::new())
                    }
                };
                Ok(ClientRun {
                    ending,
                    output,
                    stderr: OutputSnapshot::default(),
                    alarm: None,
                })
            }
            UnderTest::Process(spec) => {
                let mut process = ServerProcess::spawn(spec, addr, Some(watch.clone()))
                    .await
                    .map_err(|e| {
                        SetupError::new(
                            crate::error::SetupErrorKind::Client,
                            e.to_string().replacen("server", "client", 1),
                        )
                    })?;
                process.arm_output_watch();
                let ending = match timeout(limit, process.exited()).await {
                    Ok(status) if status.success() => Ending::Passed,
                    Ok(status) => Ending::Failed(describe_exit(status)),
                    Err(_) => Ending::Hung(limit),
                };
                process.stop(GRACE).await;
                let alarm = process
                    .take_alarm()
                    .map(|a| format!("{}: {}", a.source.name(), a.line));
                Ok(ClientRun {
                    ending,
                    output: flatten(&process.stdout()),
                    stderr: process.stderr(),
                    alarm,
                })
            }
        }
    }
}

/// A process's output as one text: head and tail, with a marker where bytes were left out.
fn flatten(out: &OutputSnapshot) -> Vec<u8> {
    let mut bytes = out.head.clone();
    if out.omitted > 0 {
        bytes.extend_from_slice(format!("\n[... {} bytes ...]\n", out.omitted).as_bytes());
    }
    bytes.extend_from_slice(&out.tail);
    bytes
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a payload that is not text".to_owned())
}

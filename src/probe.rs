//! A probe: the server under test (restarted when a case killed it) and one case at a time
//! delivered to it and judged by every oracle. Replay, the culprit search, shrinking and
//! regression checks all ask a probe the same question: does this case still fail?

use std::net::SocketAddr;
use std::time::Duration;

use crate::case::{Case, Planned};
use crate::config::Settings;
use crate::corpus::Blob;
use crate::engine::{
    ConnectError, EXIT_GRACE, Ending, FINAL_SETTLE, Progress, Transport, exit_within, local_error,
};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{Baseline, Oracles, OutputWatch};
use crate::report::{FindingKind, ServerRecord};
use crate::server::{ServerProcess, ServerSpec};
use crate::stats::DeliveryCounts;

/// How long a delivery the server closed cleanly is watched for a late crash: it read
/// everything and answered, so a crash would already show.
const CLEAN_SETTLE: Duration = Duration::from_millis(5);

/// What one probe delivery did.
#[derive(Debug)]
pub(crate) struct Probed {
    /// The finding, if the case failed.
    pub(crate) failure: Option<FindingKind>,
    /// What the delivery sent (none if it never connected).
    pub(crate) counts: DeliveryCounts,
    /// What the server answered, if it connected.
    pub(crate) response: Option<crate::oracle::Response>,
}

/// The server and how to reach, restart and judge it.
pub(crate) struct Probe<'a> {
    spec: Option<&'a ServerSpec>,
    addr: SocketAddr,
    settings: &'a Settings,
    watch: Option<OutputWatch>,
    transport: Transport,
    oracles: &'a Oracles,
    server: Option<ServerProcess>,
    /// The current server has had a case delivered since it started.
    used: bool,
}

impl<'a> Probe<'a> {
    /// Starts the server (or checks that one listens, without a spec).
    pub(crate) async fn start(
        spec: Option<&'a ServerSpec>,
        addr: SocketAddr,
        settings: &'a Settings,
        watch: Option<OutputWatch>,
        transport: Transport,
        oracles: &'a Oracles,
    ) -> Result<Probe<'a>, SetupError> {
        let mut probe = Probe {
            spec,
            addr,
            settings,
            watch,
            transport,
            oracles,
            server: None,
            used: false,
        };
        match spec {
            Some(_) => probe.restart().await?,
            None => check_listening(addr, settings.connect_timeout).await?,
        }
        Ok(probe)
    }

    /// How deliveries reach the server.
    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    /// The running server, if the harness started one.
    pub(crate) fn server(&mut self) -> Option<&mut ServerProcess> {
        self.server.as_mut()
    }

    /// True when the harness starts the server, so it can start it again.
    pub(crate) fn can_restart(&self) -> bool {
        self.spec.is_some()
    }

    /// Stops the current server (if any) and starts a fresh one.
    pub(crate) async fn restart(&mut self) -> Result<(), SetupError> {
        let Some(spec) = self.spec else {
            return Err(SetupError::new(
                SetupErrorKind::Harness,
                "cannot restart a server the harness did not start",
            ));
        };
        if let Some(mut old) = self.server.take() {
            old.stop(self.settings.stop_grace).await;
        }
        let mut process = ServerProcess::spawn(spec, self.addr, self.watch.clone())?;
        process
            .wait_ready(self.addr, self.settings.startup_timeout)
            .await?;
        process.arm_output_watch();
        self.server = Some(process);
        self.used = false;
        Ok(())
    }

    /// Makes sure the next case meets a server that has seen no other case: restarts it
    /// unless it is fresh.
    pub(crate) async fn fresh_server(&mut self) -> Result<(), SetupError> {
        if self.used
            || self
                .server
                .as_mut()
                .is_none_or(|s| s.try_exited().is_some())
        {
            self.restart().await?;
        }
        Ok(())
    }

    /// Stops the server and returns its record (output, status if it had exited before).
    pub(crate) async fn stop(
        &mut self,
    ) -> Option<(ServerRecord, Option<std::process::ExitStatus>)> {
        let mut process = self.server.take()?;
        let died = process.stop(self.settings.stop_grace).await;
        let record = ServerRecord {
            command: process.command_line().to_owned(),
            pid: process.pid(),
            stdout: process.stdout(),
            stderr: process.stderr(),
        };
        Some((record, died))
    }

    /// Delivers `case` once (restarting the server first if it is down) and judges it by
    /// every oracle: a dead server, a refused or timed-out connect, an alarming output line,
    /// or a response oracle.
    pub(crate) async fn try_case(
        &mut self,
        case: &Case,
        blob: &Blob,
        baseline: Option<&Baseline>,
    ) -> Result<Probed, SetupError> {
        if self.spec.is_some()
            && self
                .server
                .as_mut()
                .is_none_or(|s| s.try_exited().is_some())
        {
            self.restart().await?;
        }
        while self
            .server
            .as_mut()
            .and_then(ServerProcess::take_alarm)
            .is_some()
        {}
        self.used = true;
        let planned = Planned {
            case: case.clone(),
            iteration: 0,
            fastopen: false,
        };
        let listen = self.oracles.listen(baseline, self.transport.linger);
        let outcome = self
            .transport
            .delivery(blob, &planned, listen)
            .run(&Progress::default())
            .await;
        let settle = match &outcome {
            Ok(d) if d.closed_cleanly => CLEAN_SETTLE,
            Ok(_) => FINAL_SETTLE,
            Err(_) => EXIT_GRACE,
        };
        let mut server = self.server.as_mut();
        let died = exit_within(&mut server, settle).await;
        let alarm = server.and_then(ServerProcess::take_alarm);
        let (counts, response, judged) = match outcome {
            Ok(delivered) => {
                let judged = (delivered.ending != Ending::ClosedEarly)
                    .then(|| self.oracles.judge(case, &delivered.heard, baseline))
                    .flatten();
                let response = crate::oracle::Response::new(
                    delivered.heard.bytes,
                    delivered.heard.end.is_close(),
                );
                (delivered.counts, Some(response), judged)
            }
            Err(ConnectError::Refused(e)) => (
                DeliveryCounts::default(),
                None,
                Some(FindingKind::ConnectRefused {
                    error: e.to_string(),
                }),
            ),
            Err(ConnectError::TimedOut(after)) => (
                DeliveryCounts::default(),
                None,
                Some(FindingKind::ConnectTimeout { after }),
            ),
            Err(ConnectError::Local(e)) => return Err(local_error(e)),
        };
        let failure = match (died, alarm) {
            (Some(status), _) => Some(FindingKind::ServerDied { status }),
            (None, Some(alarm)) => Some(FindingKind::OutputMatched {
                stream: alarm.stream,
                line: alarm.line,
                pattern: alarm.pattern,
            }),
            (None, None) => judged,
        };
        Ok(Probed {
            failure,
            counts,
            response,
        })
    }

    /// Delivers all `cases` at once (restarting the server first if it is down): does the
    /// failure need them together?
    pub(crate) async fn try_together(
        &mut self,
        cases: &[(Case, &Blob)],
    ) -> Result<bool, SetupError> {
        if self.spec.is_some()
            && self
                .server
                .as_mut()
                .is_none_or(|s| s.try_exited().is_some())
        {
            self.restart().await?;
        }
        while self
            .server
            .as_mut()
            .and_then(ServerProcess::take_alarm)
            .is_some()
        {}
        self.used = true;
        let mut tasks = tokio::task::JoinSet::new();
        for (case, blob) in cases {
            let planned = Planned {
                case: case.clone(),
                iteration: 0,
                fastopen: false,
            };
            let delivery = self.transport.delivery(
                blob,
                &planned,
                self.oracles.listen(None, self.transport.linger),
            );
            tasks.spawn(async move { delivery.run(&Progress::default()).await });
        }
        let mut refused = false;
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Err(ConnectError::Refused(_) | ConnectError::TimedOut(_))) = joined {
                refused = true;
            }
        }
        let mut server = self.server.as_mut();
        let died = exit_within(&mut server, FINAL_SETTLE).await.is_some();
        let alarm = server.and_then(ServerProcess::take_alarm).is_some();
        Ok(died || alarm || refused)
    }
}

/// Without a spawned server, something must already listen.
pub(crate) async fn check_listening(addr: SocketAddr, limit: Duration) -> Result<(), SetupError> {
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(SetupError::new(
            SetupErrorKind::NotListening,
            format!(
                "nothing accepts connections on {addr} ({e}): start the server first, or let stutterfuzz start it (.server / --server)"
            ),
        )
        .with_source(e)),
        Err(_) => Err(SetupError::new(
            SetupErrorKind::NotListening,
            format!(
                "{addr} did not accept a connection within {}: start the server first, or let stutterfuzz start it (.server / --server)",
                humantime::format_duration(limit)
            ),
        )),
    }
}

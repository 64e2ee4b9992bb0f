//! The test rig: the server under test (restarted when a case killed it) and one case at a time
//! delivered to it and judged by every oracle. Replay, the culprit search, shrinking and
//! regression checks all ask a rig the same question: does this case still fail?

mod start;

use std::time::Duration;

use super::listen_at::ListenAt;
use super::listening::check_listening;
use super::plan::{Launch, Plan};
use crate::case::{Case, Drawn};
use crate::config::{Endpoint, OutputWatch, Settings};
use crate::corpus::Blob;
use crate::engine::exit_waits::{CLEAN_SETTLE, CONFIRM_SETTLE};
use crate::engine::{EXIT_GRACE, FINAL_SETTLE, Progress, Transport, exit_within};
use crate::error::{SetupError, SetupErrorKind};
use crate::oracle::{self, Baseline, FindingKind, Oracles, Response};
use crate::server::{Exit, Server, ServerSummary};
use crate::stats::DeliveryCounts;
use crate::tls::Tls;
use crate::wire::ConnectError;

/// What one delivery on the rig did.
#[derive(Debug)]
pub(crate) struct Tried {
    /// The finding, if the case failed.
    pub(crate) failure: Option<FindingKind>,
    /// What the delivery sent (none if it never connected).
    pub(crate) counts: DeliveryCounts,
    /// What the server answered, if it connected.
    pub(crate) response: Option<Response>,
}

/// The server and how to reach, restart and judge it.
pub(crate) struct Rig<'a> {
    launch: Launch<'a>,
    settings: &'a Settings,
    watch: Option<OutputWatch>,
    transport: Transport,
    oracles: &'a Oracles,
    server: Option<Server>,
    /// The in-process server's listening socket, bound once and kept across restarts.
    listener: Option<std::net::TcpListener>,
    /// The current server has had a case delivered since it started.
    used: bool,
    /// How the server's address came about: if the harness picked it and another process
    /// takes it first, pick again.
    listen_at: ListenAt,
    /// While a crash is narrowed, where the server said it crashed: one elsewhere is another bug.
    pub(crate) crash_places: Vec<String>,
    /// While a finding in a delivery's own answer (no crash) is shrunk, a delivery looks for
    /// the server's exit only as long as the verdict gate does: a crash then is another bug,
    /// and the shrinking tries many deliveries.
    pub(crate) short_settle: bool,
    /// The run's stop handle: once it is stopped (Ctrl-C), narrowing spends no more.
    stop: Option<crate::control::StopHandle>,
}

impl<'a> Rig<'a> {
    /// The run's stop handle, if it has one (Ctrl-C on the command line).
    pub(crate) fn stop_handle(&self) -> Option<crate::control::StopHandle> {
        self.stop.clone()
    }

    /// Resolves the plan's address, then starts its server (or checks that one listens,
    /// when the harness does not start it).
    pub(crate) async fn start(
        plan: &'a Plan,
        settings: &'a Settings,
    ) -> Result<Rig<'a>, SetupError> {
        let (addr, listen_at) = ListenAt::resolve(plan)?;
        let tls = match &plan.tls {
            Some(options) => {
                // A Unix socket has no host name: TLS over one checks `localhost` unless
                // told another (`TlsOptions::server_name`).
                let host = match &addr {
                    Endpoint::Tcp(_) => plan
                        .addr
                        .rsplit_once(':')
                        .map_or(plan.addr.as_str(), |(h, _)| h),
                    Endpoint::Unix(_) => "localhost",
                };
                Some(Tls::new(options, host)?)
            }
            None => None,
        };
        let transport = Transport::new(addr, settings, tls);
        let launch = plan.launch();
        let mut rig = Rig {
            launch,
            settings,
            watch: plan.output.clone(),
            transport: transport.clone(),
            oracles: &plan.oracles,
            server: None,
            listener: None,
            used: false,
            listen_at,
            crash_places: Vec::new(),
            short_settle: false,
            stop: plan.stop.clone(),
        };
        match launch {
            Launch::External => check_listening(&transport.addr, settings.connect_timeout).await?,
            _ => {
                rig.restart().await?;
                rig.first_look().await?;
            }
        }
        Ok(rig)
    }

    /// A server that ends before the first delivery served nobody: a placeholder future
    /// that returns, a process that exits once it accepted the readiness check. That is a
    /// setup error, said at once; a server that ends later, while fuzzed, is a finding.
    async fn first_look(&mut self) -> Result<(), SetupError> {
        let Some(server) = self.server.as_mut() else {
            return Ok(());
        };
        let Ok(exit) = tokio::time::timeout(FIRST_LOOK, server.exited()).await else {
            return Ok(());
        };
        let error = crate::server::served_nobody(exit, &server.summary());
        if let Some(daemon) = self.went_background().await {
            return Err(daemon);
        }
        self.stop().await;
        Err(error)
    }

    /// How deliveries reach the server.
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The response oracles cases are judged by.
    pub(crate) fn oracles(&self) -> &'a Oracles {
        self.oracles
    }

    /// How long the server may take to start (and to give settled answers).
    pub(crate) fn startup_timeout(&self) -> Duration {
        self.settings.startup_timeout
    }

    /// The running server, if the harness started one.
    pub(crate) fn server(&mut self) -> Option<&mut Server> {
        self.server.as_mut()
    }

    /// The transport and the server together, for a fuzzing run that uses both.
    pub(crate) fn parts(&mut self) -> (&Transport, Option<&mut Server>) {
        (&self.transport, self.server.as_mut())
    }

    /// True when the harness starts the server, so it can start it again.
    pub(crate) fn can_restart(&self) -> bool {
        !matches!(self.launch, Launch::External)
    }

    /// Stops the current server (if any) and starts a fresh one.
    pub(crate) async fn restart(&mut self) -> Result<(), SetupError> {
        if let Some(mut old) = self.server.take() {
            old.stop(self.settings.stop_grace).await;
        }
        let server = match self.launch {
            Launch::External => {
                return Err(SetupError::new(
                    SetupErrorKind::Harness,
                    "cannot restart a server the harness did not start",
                ));
            }
            Launch::Command(spec) => self.start_command(spec).await?,
            Launch::InProcess(serve) => self.start_in_process(serve)?,
        };
        server.arm_output_watch();
        self.server = Some(server);
        self.used = false;
        Ok(())
    }

    /// Before a case: a server that is up (restarted if a case killed it), with no alarm
    /// left over from an earlier case.
    async fn ready_for_case(&mut self) -> Result<(), SetupError> {
        if self.can_restart() && self.is_down() {
            self.restart().await?;
        }
        while self.server.as_mut().and_then(Server::take_alarm).is_some() {}
        self.used = true;
        Ok(())
    }

    /// Makes sure the next case meets a server that has seen no other case: restarts it
    /// unless it is fresh.
    pub(crate) async fn fresh_server(&mut self) -> Result<(), SetupError> {
        if self.used || self.is_down() {
            self.restart().await?;
        }
        Ok(())
    }

    /// True when no server runs (none started yet, or it ended).
    fn is_down(&mut self) -> bool {
        self.server
            .as_mut()
            .is_none_or(|s| s.try_exited().is_some())
    }

    /// A setup error when the server went into the background (exited 0 while something it
    /// started listens), having stopped what it left.
    pub(crate) async fn went_background(&mut self) -> Option<SetupError> {
        match self.server.as_mut()? {
            Server::Process(process) => {
                process
                    .went_background(&self.transport.addr, Duration::from_millis(250))
                    .await
            }
            Server::InProcess(_) => None,
        }
    }

    /// Stops the server and returns what a report shows of it, and how it ended if it had
    /// ended on its own before.
    pub(crate) async fn stop(&mut self) -> Option<(ServerSummary, Option<Exit>)> {
        let mut server = self.server.take()?;
        let died = server.stop(self.settings.stop_grace).await;
        Some((server.summary(), died))
    }

    /// Delivers `case` once (restarting the server first if it is down) and judges it by
    /// every oracle: a dead server, a refused or timed-out connect, an alarming output line,
    /// or a response oracle.
    pub(crate) async fn try_case(
        &mut self,
        case: &Case,
        blob: &Blob,
        baseline: Option<&Baseline>,
    ) -> Result<Tried, SetupError> {
        self.ready_for_case().await?;
        let drawn = Drawn {
            case: case.clone(),
            iteration: 0,
            fastopen: false,
        };
        let listen = self.oracles.listen(baseline, self.transport.linger);
        let outcome = self
            .transport
            .connection(blob, &drawn, listen)
            .run(&Progress::default())
            .await;
        let judged = outcome.as_ref().ok().and_then(|delivered| {
            self.oracles.judge_delivery(
                case,
                delivered.ending,
                &delivered.heard,
                baseline,
                delivered.neglect,
            )
        });
        // A delivery the server answered in full and closed cleanly is done: a crash on it
        // would have come before the close (and an in-process server's panic is seen at
        // once). A close after a short or wrong answer may be a crash handler's, the exit
        // a moment behind it. A fuzzer's input waits at most the fuzzer's short settle.
        let done = matches!(&outcome, Ok(d) if d.closed_cleanly) && judged.is_none();
        let settle = match &outcome {
            Ok(_) if done => CLEAN_SETTLE,
            Ok(_) => FINAL_SETTLE,
            Err(_) => EXIT_GRACE,
        };
        let settle = match self.settings.after_last {
            Some(_) if done => Duration::ZERO,
            Some(cap) => settle.min(cap),
            None => settle,
        };
        let settle = if self.short_settle {
            settle.min(CONFIRM_SETTLE)
        } else {
            settle
        };
        let died = exit_within(self.server.as_mut(), settle).await;
        let alarm = self.server.as_mut().and_then(Server::take_alarm);
        let (counts, response, judged) = match outcome {
            Ok(delivered) => {
                let mut judged = judged;
                if judged.as_ref().is_some_and(oracle::gated) && died.is_none() {
                    let delivered = (delivered.ending, &delivered.heard, delivered.neglect);
                    judged = self.rejudge(case, blob, delivered, baseline).await;
                }
                let closed = delivered.heard.closed();
                let response = Response::new(delivered.heard.bytes, closed);
                (delivered.counts, Some(response), judged)
            }
            Err(error) => (
                DeliveryCounts::default(),
                None,
                Some(oracle::connect_failed(error)?),
            ),
        };
        let failure = oracle::first_of(died, alarm, judged);
        Ok(Tried {
            failure,
            counts,
            response,
        })
    }

    /// The verdict gate's second look, as a rig takes it: the blob sent whole now, and the
    /// failing delivery judged again against that answer (with what varies in it learnt).
    /// The finding if it still fails; none if it passes or the whole blob fails too.
    async fn rejudge(
        &mut self,
        case: &Case,
        blob: &Blob,
        delivered: (
            crate::wire::Ending,
            &crate::wire::Heard,
            Option<crate::wire::Neglect>,
        ),
        baseline: Option<&Baseline>,
    ) -> Option<FindingKind> {
        let whole = Drawn::whole(blob, 0);
        let fresh = self
            .transport
            .connection(blob, &whole, self.oracles.whole_listen(baseline))
            .run(&Progress::default())
            .await;
        let Ok(fresh) = fresh else {
            // The whole blob got no connection: the first verdict stands.
            return self.oracles.judge_delivery(
                case,
                delivered.0,
                delivered.1,
                baseline,
                delivered.2,
            );
        };
        let mut learnt = baseline.cloned();
        match self
            .oracles
            .rejudge(case, delivered, learnt.as_mut(), &fresh.heard)
        {
            oracle::Rejudged::Fails(kind) => Some(kind),
            _ => None,
        }
    }

    /// Delivers all `cases` (of one blob) at once on the live server, each on its own
    /// connection, and judges each by the response oracles: a hang costs one response
    /// timeout for all of them, not one each. `None` for every case when the server died
    /// or printed an alarm meanwhile (the next try restarts it).
    pub(crate) async fn try_at_once(
        &mut self,
        cases: &[Case],
        blob: &Blob,
        baseline: Option<&Baseline>,
        limit: Option<Duration>,
    ) -> Result<Vec<Option<FindingKind>>, SetupError> {
        self.ready_for_case().await?;
        let listen = self
            .oracles
            .listen(baseline, self.transport.linger)
            .within(limit);
        let mut tasks = tokio::task::JoinSet::new();
        for (i, case) in cases.iter().enumerate() {
            let drawn = Drawn {
                case: case.clone(),
                iteration: 0,
                fastopen: false,
            };
            let connection = self.transport.connection(blob, &drawn, listen);
            tasks.spawn(async move { (i, connection.run(&Progress::default()).await) });
        }
        let mut judged = vec![None; cases.len()];
        while let Some(joined) = tasks.join_next().await {
            let Ok((i, outcome)) = joined else { continue };
            judged[i] = match outcome {
                Ok(d) => self
                    .oracles
                    .judge_delivery(&cases[i], d.ending, &d.heard, baseline, d.neglect),
                Err(error) => Some(oracle::connect_failed(error)?),
            };
        }
        let died = exit_within(self.server.as_mut(), CLEAN_SETTLE)
            .await
            .is_some();
        let alarm = self.server.as_mut().and_then(Server::take_alarm).is_some();
        if died || alarm {
            judged.iter_mut().for_each(|j| *j = None);
        }
        Ok(judged)
    }

    /// Delivers all `cases` at once (restarting the server first if it is down): does the
    /// failure need them together?
    pub(crate) async fn try_together(
        &mut self,
        cases: &[(Case, &Blob)],
    ) -> Result<bool, SetupError> {
        self.ready_for_case().await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (case, blob) in cases {
            let drawn = Drawn {
                case: case.clone(),
                iteration: 0,
                fastopen: false,
            };
            let connection = self.transport.connection(
                blob,
                &drawn,
                self.oracles.listen(None, self.transport.linger),
            );
            tasks.spawn(async move { connection.run(&Progress::default()).await });
        }
        // Connections still waiting when the server dies could wait out their connect
        // timeout: the death answers the question, so they are cut short.
        let mut refused = false;
        let died = loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok(Err(ConnectError::Refused(_) | ConnectError::TimedOut(_)))) => {
                        refused = true;
                    }
                    Some(_) => {}
                    None => {
                        break exit_within(self.server.as_mut(), FINAL_SETTLE).await.is_some();
                    }
                },
                _ = async {
                    match self.server.as_mut() {
                        Some(server) => server.exited().await,
                        None => std::future::pending().await,
                    }
                } => {
                    tasks.abort_all();
                    break true;
                }
            }
        };
        let alarm = self.server.as_mut().and_then(Server::take_alarm).is_some();
        Ok(died || alarm || refused)
    }
}

/// How long a server just started is watched before the first delivery (`Rig::first_look`).
const FIRST_LOOK: Duration = Duration::from_millis(50);

//! What the client builder was told, as plain data, with the environment laid over it
//! (`STUTTERFUZZ_SEED`, `STUTTERFUZZ_DURATION`, `STUTTERFUZZ_SHRINK_TIME`, and
//! `STUTTERFUZZ_REPLAY` when it holds a client case), read as a server run reads them
//! ([`config::Overrides`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::case::ClientCase;
use super::regressions::{RegressionFile, Regressions};
use super::report::ClientFinding;
use super::under_test::UnderTest;
use crate::config::{self, OutputWatch};
use crate::control::{FindingHook, KeepGoingFor};
use crate::error::{SetupError, SetupErrorKind};
use crate::rng::Seed;
use crate::server::ProgramSpec;
use crate::split::SplitMode;
use crate::tls::TlsOptions;

/// Where the answers come from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A server already listening.
    Upstream(SocketAddr),
    /// A server the run spawns (`{addr}` filled in).
    Server(ProgramSpec),
    /// Recorded conversations in a directory.
    Recorded(PathBuf),
}

/// A resolved client run.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) client: UnderTest,
    pub(crate) source: Source,
    pub(crate) host: IpAddr,
    /// The harness serves the client on a Unix socket (`{path}`), not on `host`.
    pub(crate) unix: bool,
    pub(crate) seed: Seed,
    pub(crate) cycles: Option<u64>,
    pub(crate) parallel: usize,
    pub(crate) timeout: Duration,
    pub(crate) startup_timeout: Duration,
    pub(crate) watch: OutputWatch,
    pub(crate) replay: Option<ClientCase>,
    pub(crate) mode: SplitMode,
    pub(crate) split_requests: bool,
    pub(crate) regressions: Option<RegressionFile>,
    /// How long narrowing a finding may take.
    pub(crate) narrow_time: Duration,
    /// Going on after each finding (or after known ones), and what hears each new one.
    pub(crate) keep_going: KeepGoingRule,
    /// What is shown the run's report as it goes.
    pub(crate) progress: Option<ClientProgress>,
    /// The certificate and key the harness shows a client that starts TLS (default: a
    /// throwaway certificate made for the run).
    pub(crate) tls_identity: Option<(PathBuf, PathBuf)>,
    /// How the relay speaks TLS to the real server, when the client starts it.
    pub(crate) tls: Option<TlsOptions>,
}

/// A client run's progress hook: how often, and what is called with the report so far.
#[derive(Clone)]
pub(crate) struct ClientProgress {
    pub(crate) every: Duration,
    pub(crate) callback: std::sync::Arc<dyn Fn(&super::report::ClientReport) + Send + Sync>,
}

impl std::fmt::Debug for ClientProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientProgress")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// A run that goes on after findings: after every one, or after those a known-findings
/// file lists.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeepGoingRule {
    pub(crate) on: bool,
    pub(crate) known: Vec<String>,
    pub(crate) on_finding: Option<FindingHook<ClientFinding>>,
}

/// What the builder holds before the environment is read.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) client: UnderTest,
    pub(crate) source: Option<Result<Source, String>>,
    pub(crate) host: IpAddr,
    pub(crate) unix: bool,
    pub(crate) seed: Option<Seed>,
    pub(crate) cycles: Option<u64>,
    pub(crate) parallel: usize,
    pub(crate) timeout: Duration,
    pub(crate) startup_timeout: Duration,
    pub(crate) watch: OutputWatch,
    pub(crate) replay: Option<ClientCase>,
    pub(crate) mode: SplitMode,
    pub(crate) split_requests: bool,
    pub(crate) regressions: Regressions,
    pub(crate) narrow_time: Duration,
    pub(crate) keep_going: KeepGoingFor<ClientFinding>,
    pub(crate) progress: Option<ClientProgress>,
    pub(crate) tls_identity: Option<(PathBuf, PathBuf)>,
    pub(crate) tls: Option<TlsOptions>,
}

impl Plan {
    pub(crate) fn new(client: UnderTest) -> Self {
        Plan {
            client,
            source: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            unix: false,
            seed: None,
            cycles: None,
            parallel: config::defaults::CLIENT_CONNECTIONS,
            timeout: config::defaults::CLIENT_TIMEOUT,
            startup_timeout: config::defaults::STARTUP_TIMEOUT,
            watch: OutputWatch::default(),
            replay: None,
            mode: SplitMode::Mixed,
            split_requests: false,
            regressions: Regressions::default(),
            narrow_time: config::defaults::CLIENT_SHRINK_TIME,
            keep_going: KeepGoingFor::default(),
            progress: None,
            tls_identity: None,
            tls: None,
        }
    }

    /// What cannot go with recorded answers: cutting requests, and TLS settings for a server.
    fn check_source(&self, source: &Source) -> Result<(), SetupError> {
        if self.split_requests && matches!(source, Source::Recorded(_)) {
            return Err(config::settings_error(
                "split_requests cuts the client's bytes on their way to a server, and recorded answers have none: give .upstream(ADDR) or .server(COMMAND), or leave it off".to_owned(),
            ));
        }
        if self.tls.is_some() && matches!(source, Source::Recorded(_)) {
            return Err(config::settings_error(
                "tls(...) says how to reach the real server behind the relay, and recorded answers have none: leave it out (a recorded `#~ tls` mark is answered with the run's certificate, .tls_identity(CERT, KEY) to give one)".to_owned(),
            ));
        }
        Ok(())
    }

    /// The settings and the time budget, the environment laid over the plan, for a
    /// run called from thread `caller`.
    pub(crate) fn resolve(
        &self,
        budget: Duration,
        caller: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Settings, Duration), SetupError> {
        let error = config::settings_error;
        let source = match &self.source {
            None => {
                return Err(error(
                    "no answers for the client: give .upstream(ADDR), .server(COMMAND) or .answers(DIR)".to_owned(),
                ));
            }
            Some(Err(why)) => {
                return Err(SetupError::new(SetupErrorKind::Address, why.clone()));
            }
            Some(Ok(source)) => source.clone(),
        };
        self.check_source(&source)?;
        let env = config::Overrides::read(
            config::Direction::Client,
            self.seed,
            budget,
            self.cycles,
            env,
        )?;
        let replay = match env.replay {
            Some(v) => Some(
                v.parse::<ClientCase>()
                    .map_err(|e| config::env_error("STUTTERFUZZ_REPLAY", &v, e))?,
            ),
            None => self.replay.clone(),
        };
        if self.parallel == 0 || self.cycles == Some(0) || self.timeout.is_zero() {
            return Err(error(
                "parallel(0), cycles(0) and timeout(0) would run nothing: give at least 1"
                    .to_owned(),
            ));
        }
        if self.unix && matches!(self.client, UnderTest::InProcess(_)) {
            return Err(error(
                "an in-process client (StutterClient::function) is given a TCP address: leave .unix out, or run the client as a command (StutterClient::command) to serve it on a Unix socket".to_owned(),
            ));
        }
        let known = match &self.keep_going.known {
            Some(path) if replay.is_none() => crate::report::known::read(path)?,
            _ => Vec::new(),
        };
        let keep_going = KeepGoingRule {
            on: self.keep_going.always && replay.is_none(),
            known,
            on_finding: self.keep_going.on_finding.clone(),
        };
        Ok((
            Settings {
                client: self.client.clone(),
                source,
                host: self.host,
                unix: self.unix,
                seed: env.seed,
                cycles: env.cycles,
                parallel: self.parallel,
                timeout: self.timeout,
                startup_timeout: self.startup_timeout,
                watch: self.watch.clone(),
                replay,
                mode: self.mode,
                split_requests: self.split_requests,
                regressions: self.regressions.client_file(caller),
                narrow_time: env.shrink_time.unwrap_or(self.narrow_time),
                keep_going,
                progress: self.progress.clone(),
                tls_identity: self.tls_identity.clone(),
                tls: self.tls.clone(),
            },
            env.budget,
        ))
    }
}

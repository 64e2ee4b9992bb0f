//! One try of the client: a stage of its own, the client run against it, and what each
//! connection carried; with what a run shares between its tries.

use std::sync::Arc;

use super::answers::Answers;
use super::case::ClientCase;
use super::certificate::RunIdentity;
use super::plan::Settings;
use super::relay::{Cutting, HarnessTls, Served, Stage};
use super::under_test::ClientRun;
use crate::engine::Pacing;
use crate::error::{SetupError, SetupErrorKind};
use crate::server::{ServerProcess, describe_exit};

/// One run of the client with its answers cut (or whole) and what the connections got.
pub(super) struct Attempt {
    pub(super) run: ClientRun,
    pub(super) served: Vec<Served>,
}

/// What a run shares between its tasks.
pub(super) struct Ctx {
    pub(super) settings: Settings,
    pub(super) answers: Arc<Answers>,
    pub(super) pacing: Arc<Pacing>,
    /// The real server, when the run started it.
    pub(super) server: std::sync::Mutex<Option<ServerProcess>>,
    /// The harness's side of TLS toward a client that starts it.
    pub(super) identity: Option<RunIdentity>,
    /// How the relay speaks TLS to the real server, when a client starts it.
    pub(super) upstream_tls: Option<crate::tls::Tls>,
}

impl Ctx {
    pub(super) async fn attempt(&self, cuts: Cutting) -> Result<Attempt, SetupError> {
        self.attempt_within(cuts, self.settings.timeout).await
    }

    /// One run of the client with these cuts, given `limit` before it counts as hung.
    pub(super) async fn attempt_within(
        &self,
        cuts: Cutting,
        limit: std::time::Duration,
    ) -> Result<Attempt, SetupError> {
        let stage = Stage::open(
            self.settings.host,
            self.settings.unix,
            self.answers.clone(),
            cuts,
            self.pacing.clone(),
            HarnessTls {
                identity: self.identity.as_ref().map(|run| run.identity.clone()),
                upstream: self.upstream_tls.clone(),
            },
        )
        .await
        .map_err(|e| {
            SetupError::new(
                SetupErrorKind::Address,
                format!(
                    "cannot listen on {} for the client: {e}",
                    if self.settings.unix {
                        "a Unix socket".to_owned()
                    } else {
                        self.settings.host.to_string()
                    }
                ),
            )
        })?;
        let run = self
            .settings
            .client
            .run(stage.addr(), limit, &self.settings.watch)
            .await?;
        let served = stage.close().await;
        Ok(Attempt { run, served })
    }

    pub(super) fn describe_client(&self) -> String {
        self.settings.client.describe()
    }

    /// The setup error for a server the run started that has ended meanwhile: what the
    /// client did since then says nothing about the client.
    pub(super) fn server_died(&self) -> Result<(), SetupError> {
        let mut server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        let Some(process) = server.as_mut() else {
            return Ok(());
        };
        match process.try_exited() {
            None => Ok(()),
            Some(status) => Err(server_died(process, status)),
        }
    }
}

/// The setup error for a server the run started that ended during it.
pub(super) fn server_died(process: &ServerProcess, status: std::process::ExitStatus) -> SetupError {
    SetupError::new(
        SetupErrorKind::ServerStartup,
        format!(
            "the server `{}` {} during the client run, so the client's failures since say nothing about the client: the server may have a bug of its own (fuzz it with Stutter, or `stutterfuzz --server ...`)",
            process.command_line(),
            describe_exit(status)
        ),
    )
}

/// Where a case cuts both directions.
pub(super) fn cutting(case: &ClientCase) -> Cutting {
    Cutting {
        answers: case.cuts().into(),
        requests: case.request_cuts().into(),
    }
}

//! Starting the rig's server: a command on its address once that address is free (picking
//! another when the harness picked it and it was lost), or the in-process server on its
//! listening socket, kept across restarts.

use super::Rig;
use crate::config::Endpoint;
use crate::error::{SetupError, SetupErrorKind};
use crate::run::listen_at::taken;
use crate::server::{InProcessServer, ProgramSpec, ServeFn, Server, ServerProcess};

impl Rig<'_> {
    /// Spawns the server's command once its port is free (picking another when the harness
    /// picked it and another process holds it) and waits until it accepts; a server that
    /// fails at once on a picked port is started again on another.
    pub(super) async fn start_command(&mut self, spec: &ProgramSpec) -> Result<Server, SetupError> {
        if let Some(instead) = spec.misplaced(&self.transport.addr) {
            return Err(SetupError::new(SetupErrorKind::ServerSpawn, instead));
        }
        while taken(&self.transport.addr).await {
            let Some(another) = self.listen_at.pick_again() else {
                let (what, instead) = match self.transport.addr {
                    Endpoint::Tcp(_) => ("port", "use port 0 to let stutterfuzz pick a free one"),
                    Endpoint::Unix(_) => (
                        "socket",
                        "give `unix:` alone (--unix with no path) to let stutterfuzz pick a path",
                    ),
                };
                return Err(SetupError::new(
                    SetupErrorKind::ServerStartup,
                    format!(
                        "{} already accepts connections before the server is started: another \
                         process holds that {what}; stop it, or {instead}",
                        self.transport.addr
                    ),
                ));
            };
            self.transport.addr = another?;
        }
        loop {
            let started = tokio::time::Instant::now();
            let mut process =
                ServerProcess::spawn(spec, &self.transport.addr, self.watch.clone()).await?;
            match process
                .wait_ready(&self.transport.addr, self.settings.startup_timeout)
                .await
            {
                Ok(()) => break Ok(Server::Process(Box::new(process))),
                // A server that fails at once on a port the harness picked may have
                // lost that port to another process in the meantime: pick again. (It
                // is stopped, with all it started, before the next one starts.) One
                // that never accepted within the startup timeout was stopped by us:
                // that is the error, said once, after that timeout.
                Err(e) => {
                    let failed_at_once = started.elapsed() < self.settings.startup_timeout
                        && process.try_exited().is_some_and(|s| !s.success());
                    match failed_at_once
                        .then(|| self.listen_at.pick_again())
                        .flatten()
                    {
                        Some(another) => self.transport.addr = another?,
                        None => return Err(e),
                    }
                }
            }
        }
    }

    /// Starts the in-process server on its listening socket, bound on the first start and
    /// kept across restarts (no port race, and a restart serves the same socket).
    pub(super) fn start_in_process(&mut self, serve: &ServeFn) -> Result<Server, SetupError> {
        let listener = match self.listener.take() {
            Some(listener) => listener,
            None => std::net::TcpListener::bind(
                self.transport
                    .addr
                    .tcp()
                    .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            )
            .map_err(|e| {
                SetupError::new(
                    SetupErrorKind::ServerStartup,
                    format!(
                        "cannot bind {} for the in-process server: {e}",
                        self.transport.addr
                    ),
                )
                .with_source(e)
            })?,
        };
        let started = InProcessServer::start(serve, &listener);
        self.listener = Some(listener);
        let server = started?;
        self.transport.addr = Endpoint::Tcp(server.addr());
        Ok(Server::InProcess(server))
    }
}

//! Where the harness's server listens, and what to do when that place is taken: a TCP port
//! (picked again when the harness picked it and another process took it first), or a Unix
//! socket's path (a picked one in a folder of the run's own, removed with the run; a socket
//! file that a server killed earlier left behind, which nobody accepts on, cleared before the
//! next server binds there).

use std::net::IpAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

use super::plan::{Launch, Plan};
use crate::config::{Endpoint, free_port, resolve_endpoint};
use crate::error::{SetupError, SetupErrorKind};
use crate::server::accepts;

/// How many times an address the harness picked is picked again when another process took it.
const MAX_PICKS: u32 = 5;

/// The file name of a picked Unix socket in the run's folder.
const SOCKET_NAME: &str = "server.sock";

/// How the run came by its server's address, and whether it may pick another.
#[derive(Debug)]
pub(super) struct ListenAt {
    /// The host of a port the harness picked (port 0), where it picks again when another
    /// process took the port first. Only a port: a socket path the harness picked is in a
    /// folder of its own, which no other process takes, so a server that fails on it would
    /// fail on any.
    repick_on: Option<IpAddr>,
    picks: u32,
    /// The folder of a picked Unix socket, removed when the run ends.
    _dir: Option<tempfile::TempDir>,
}

impl ListenAt {
    /// The address the plan names, resolved; for a spawned server, port 0 or `unix:` alone
    /// picks one.
    pub(super) fn resolve(plan: &Plan) -> Result<(Endpoint, ListenAt), SetupError> {
        let (endpoint, dir) = match resolve_endpoint(&plan.addr, plan.port_zero())? {
            Some(Endpoint::Unix(_)) if matches!(plan.launch(), Launch::InProcess(_)) => {
                return Err(SetupError::new(
                    SetupErrorKind::Address,
                    format!(
                        "{}: an in-process server (Stutter::serve) gets a TCP listener; give a HOST:PORT such as 127.0.0.1:0, or start the server as a command (.server) to fuzz it on a Unix socket",
                        plan.addr
                    ),
                ));
            }
            Some(endpoint) => (endpoint, None),
            None => {
                let (path, dir) = fresh_socket()?;
                (Endpoint::Unix(path), Some(dir))
            }
        };
        let repick_on = match &endpoint {
            Endpoint::Tcp(addr) if plan.picks_port() => Some(addr.ip()),
            _ => None,
        };
        let at = ListenAt {
            repick_on,
            picks: 0,
            _dir: dir,
        };
        Ok((endpoint, at))
    }

    /// Another free port, when the harness picked the one it lost and has picks left.
    pub(super) fn pick_again(&mut self) -> Option<Result<Endpoint, SetupError>> {
        let ip = self.repick_on.filter(|_| self.picks < MAX_PICKS)?;
        self.picks += 1;
        Some(free_port(ip).map(Endpoint::Tcp))
    }
}

/// A path for a Unix socket nobody uses, in a new folder of the run's own.
fn fresh_socket() -> Result<(PathBuf, tempfile::TempDir), SetupError> {
    let dir = tempfile::Builder::new()
        .prefix("stutterfuzz-")
        .tempdir()
        .map_err(|e| {
            SetupError::new(
                SetupErrorKind::Address,
                format!(
                    "cannot make a folder for the server's Unix socket in {}: {e}; set TMPDIR to a writable folder",
                    std::env::temp_dir().display()
                ),
            )
            .with_source(e)
        })?;
    let path = dir.path().join(SOCKET_NAME);
    crate::config::check_socket_path(&path).map_err(|e| {
        SetupError::new(
            SetupErrorKind::Address,
            format!(
                "{e}; the path is in the temporary folder: set TMPDIR to a shorter one, or give a path of your own (unix:PATH, --unix PATH)"
            ),
        )
    })?;
    Ok((path, dir))
}

/// True when something already accepts connections at `addr`. A Unix socket file that
/// nobody accepts on is what a killed server left behind: it is removed, so that the next
/// server can bind there.
pub(super) async fn taken(addr: &Endpoint) -> bool {
    if accepts(addr, Duration::from_millis(200)).await {
        return true;
    }
    if let Endpoint::Unix(path) = addr
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
    {
        let _ = std::fs::remove_file(path);
    }
    false
}

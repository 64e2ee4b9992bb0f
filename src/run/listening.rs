//! Whether something accepts connections at an address before the harness fuzzes a server
//! it did not start (one must listen).

use std::time::Duration;

use crate::config::Endpoint;
use crate::error::{SetupError, SetupErrorKind};

/// Without a spawned server, something must already listen.
pub(crate) async fn check_listening(addr: &Endpoint, limit: Duration) -> Result<(), SetupError> {
    let addr = match addr {
        Endpoint::Tcp(addr) => *addr,
        Endpoint::Unix(path) => return check_unix_listening(path, limit).await,
    };
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await {
        // A connection to itself (simultaneous open on a port nobody listens on) is none.
        Ok(Ok(stream)) if stream.local_addr().ok() == Some(addr) => Err(SetupError::new(
            SetupErrorKind::NotListening,
            format!(
                "nothing accepts connections on {addr}: start the server first, or let stutterfuzz start it (.server / --server)"
            ),
        )),
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

/// Without a spawned server, something must listen on the Unix socket at `path`.
async fn check_unix_listening(path: &std::path::Path, limit: Duration) -> Result<(), SetupError> {
    let not_listening = |why: String| {
        SetupError::new(
            SetupErrorKind::NotListening,
            format!(
                "nothing accepts connections on unix:{}{why}: start the server first, or let stutterfuzz start it (.server / --server)",
                path.display()
            ),
        )
    };
    match tokio::time::timeout(limit, crate::engine::connect_unix(path)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(not_listening(format!(" ({e})")).with_source(e)),
        Err(_) => Err(not_listening(format!(
            " within {}",
            humantime::format_duration(limit)
        ))),
    }
}

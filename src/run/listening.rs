//! Whether something accepts connections at an address: before the harness starts a server
//! there (the port must be free), and before it fuzzes a server it did not start (one must
//! listen).

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{SetupError, SetupErrorKind};
use crate::server::accepts;

/// True when something already accepts connections at `addr`.
pub(super) async fn port_taken(addr: SocketAddr) -> bool {
    accepts(addr, Duration::from_millis(200)).await
}

/// Without a spawned server, something must already listen.
pub(crate) async fn check_listening(addr: SocketAddr, limit: Duration) -> Result<(), SetupError> {
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

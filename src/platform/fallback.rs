//! Where Linux's controls are missing: pacing falls back to a fixed pause, connects are
//! ordinary.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// A socket's own send queue cannot be seen here: pacing relies on its pause, on Unix
/// sockets too.
pub(crate) const SEES_OWN_QUEUE: bool = false;

/// Not visible here: reported as nothing outstanding, so pacing relies on its pause.
pub(crate) fn unacknowledged(_socket: &impl AsRawFd) -> io::Result<usize> {
    Ok(0)
}

/// Fast open is Linux's `TCP_FASTOPEN_CONNECT`; elsewhere the connect is an ordinary one.
pub(crate) fn enable_fastopen(_socket: &tokio::net::TcpSocket) {}

/// A small receive buffer, where the segment size cannot be set.
pub(crate) fn make_slow_reader(socket: &tokio::net::TcpSocket) {
    let _ = socket.set_recv_buffer_size(2048);
}

/// The server's end of one connection (never seen here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ServerEnd {
    pub(crate) unread: u32,
    pub(crate) accepted: bool,
}

/// The server's receive queue cannot be seen here: opening always fails, and pacing falls
/// back to the ACK and a fixed pause.
pub(crate) struct ServerQueue(());

impl ServerQueue {
    pub(crate) fn open() -> io::Result<Self> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(crate) fn server_end(
        &mut self,
        _server: SocketAddr,
        _client: SocketAddr,
    ) -> io::Result<Option<ServerEnd>> {
        Ok(None)
    }

    pub(crate) fn send_full(
        &mut self,
        _server: SocketAddr,
        _client: SocketAddr,
    ) -> io::Result<Option<bool>> {
        Ok(None)
    }

    pub(crate) fn received(
        &mut self,
        _server: SocketAddr,
        _client: SocketAddr,
    ) -> io::Result<Option<u64>> {
        Ok(None)
    }
}

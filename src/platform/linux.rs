//! Linux-only socket and process controls.

use std::io;
use std::os::fd::AsRawFd;

nix::ioctl_read_bad!(siocoutq, libc::TIOCOUTQ, libc::c_int);

/// Bytes written to the socket that the peer has not acknowledged yet (SIOCOUTQ).
pub(crate) fn unacknowledged(socket: &impl AsRawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points to a live c_int;
    // the descriptor belongs to a socket the caller holds open.
    unsafe { siocoutq(socket.as_raw_fd(), &mut queued) }.map_err(io::Error::from)?;
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// Asks for TCP fast open on `socket`'s connect: the first write goes out in the SYN where
/// the kernel has a cookie for the server; otherwise the kernel connects normally. Nothing
/// is lost either way, so a failure is ignored.
pub(crate) fn enable_fastopen(socket: &tokio::net::TcpSocket) {
    let _ =
        nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::TcpFastOpenConnect, &true);
}

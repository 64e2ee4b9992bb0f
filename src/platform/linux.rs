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

/// The smallest segment Linux allows (`TCP_MIN_MSS`).
const SMALLEST_SEGMENT: u32 = 88;
/// A receive buffer as small as the kernel takes (it doubles it, and keeps a floor).
const SMALL_RECEIVE_BUFFER: u32 = 2048;

/// Makes `socket` (not yet connected) a slow reader's: a small receive buffer and the
/// smallest segment size. On loopback the server's send buffer grows with the segment size
/// (and with its congestion window): measured on the development machine, a server's
/// non-blocking `write()` of a large response came up short after about 3.9 MB with the
/// defaults, 2.8 MB with a 4 KiB receive buffer alone, and with both after 20 kB at one time
/// and 627 kB at another (with bbr as the congestion control). Best effort: a refused option
/// leaves the default.
pub(crate) fn make_slow_reader(socket: &tokio::net::TcpSocket) {
    let _ = socket.set_recv_buffer_size(SMALL_RECEIVE_BUFFER);
    let _ = nix::sys::socket::setsockopt(
        socket,
        nix::sys::socket::sockopt::TcpMaxSeg,
        &SMALLEST_SEGMENT,
    );
}

//! Linux-only socket and process controls.

use std::io;
use std::os::fd::AsRawFd;

nix::ioctl_read_bad!(siocoutq, libc::TIOCOUTQ, libc::c_int);

/// Bytes written to the socket that the peer has not acknowledged yet (SIOCOUTQ). A
/// connection the peer reset is an error: its unacknowledged bytes never will be.
/// A socket's own send queue can be seen (`SIOCOUTQ`): on a Unix socket, what the server has
/// not read.
pub(crate) const SEES_OWN_QUEUE: bool = true;

pub(crate) fn unacknowledged(socket: &impl AsRawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points to a live c_int;
    // the descriptor belongs to a socket the caller holds open.
    unsafe { siocoutq(socket.as_raw_fd(), &mut queued) }.map_err(io::Error::from)?;
    if queued > 0 && tcp_state(socket) == Some(TCP_CLOSE) {
        return Err(io::ErrorKind::ConnectionReset.into());
    }
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// `TCP_CLOSE` of the kernel's TCP states: what a connection becomes when the peer resets it.
const TCP_CLOSE: u8 = 7;

/// The kernel's TCP state of `socket` (`TCP_INFO`'s `tcpi_state`), if it can be read.
fn tcp_state(socket: &impl AsRawFd) -> Option<u8> {
    // SAFETY: an all-zero tcp_info is a valid value of a plain C struct of integers.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is that large and
    // live; the descriptor belongs to a socket the caller holds open.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    (rc == 0 && len > 0).then_some(info.tcpi_state)
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

//! How many bytes wait unread in the *server's* end of a connection, asked of the kernel
//! through NETLINK_SOCK_DIAG (inet_diag): the receive queue of the server's socket, found
//! by the connection's two addresses. When the server runs on this machine, a chunk sent
//! only once that queue is empty is read on its own: the boundary is kept for certain,
//! without a fixed pause.

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

/// The server's end of one connection, as the kernel shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ServerEnd {
    /// Bytes received and not read yet.
    pub(crate) unread: u32,
    /// The server has accepted the connection (its socket has a file); until then it waits
    /// in the listen queue.
    pub(crate) accepted: bool,
}

/// A sock_diag socket for queue queries.
pub(crate) struct ServerQueue {
    socket: Socket,
    sent: Vec<u8>,
    received: Vec<u8>,
}

impl ServerQueue {
    pub(crate) fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&NetlinkAddr::new(0, 0))?;
        socket.set_non_blocking(true)?;
        Ok(ServerQueue {
            socket,
            sent: Vec::new(),
            received: vec![0; 8192],
        })
    }

    /// The server's socket of the connection between `server` and `client` (the client's
    /// end is ours); `None` when the kernel has no such socket here (the server is
    /// elsewhere) or does not answer at once.
    pub(crate) fn server_end(
        &mut self,
        server: SocketAddr,
        client: SocketAddr,
    ) -> io::Result<Option<ServerEnd>> {
        Ok(self
            .query(server, client, ExtensionFlags::empty())?
            .map(|response| ServerEnd {
                unread: response.header.recv_queue,
                accepted: response.header.inode != 0,
            }))
    }

    /// How many bytes the server's socket of the connection between `server` and `client`
    /// has received from the client in all (`tcpi_bytes_received`), read or not; `None` when
    /// it cannot be seen. Unlike our end's acknowledgements, which the server's kernel may
    /// delay by up to 40 ms, it counts a segment as soon as it arrives.
    pub(crate) fn received(
        &mut self,
        server: SocketAddr,
        client: SocketAddr,
    ) -> io::Result<Option<u64>> {
        let Some(response) = self.query(server, client, ExtensionFlags::INFO)? else {
            return Ok(None);
        };
        Ok(response.nlas.iter().find_map(|nla| match nla {
            Nla::TcpInfo(info) => Some(info.bytes_received),
            _ => None,
        }))
    }

    /// Whether the server's socket of the connection between `server` and `client` has its
    /// send buffer full: its queued memory within an eighth of `SO_SNDBUF` (a writer blocked
    /// on it refills it as soon as the peer takes a segment, so it is seldom caught at the
    /// very top; a `write()` then comes up short or fails with `EAGAIN`); `None` when it
    /// cannot be seen.
    pub(crate) fn send_full(
        &mut self,
        server: SocketAddr,
        client: SocketAddr,
    ) -> io::Result<Option<bool>> {
        let Some(response) = self.query(server, client, ExtensionFlags::SKMEMINFO)? else {
            return Ok(None);
        };
        Ok(response.nlas.iter().find_map(|nla| match nla {
            Nla::MemInfo(memory) => {
                Some(u64::from(memory.send_queue) * 8 >= u64::from(memory.send_queue_max) * 7)
            }
            _ => None,
        }))
    }

    /// The kernel's record of one socket, with the `extensions` asked for.
    fn query(
        &mut self,
        server: SocketAddr,
        client: SocketAddr,
        extensions: ExtensionFlags,
    ) -> io::Result<Option<InetResponse>> {
        let family = if server.is_ipv4() { AF_INET } else { AF_INET6 };
        let socket_id = SocketId {
            source_port: server.port(),
            destination_port: client.port(),
            source_address: server.ip(),
            destination_address: client.ip(),
            interface_id: 0,
            // All 0xff: no cookie, find the socket by its addresses.
            cookie: [0xff; 8],
        };
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        let mut request = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions,
                states: StateFlags::all(),
                socket_id,
            })
            .into(),
        );
        request.finalize();
        self.sent.resize(request.buffer_len(), 0);
        request.serialize(&mut self.sent);
        self.socket.send(&self.sent, 0)?;
        let size = match self.socket.recv(&mut &mut self.received[..], 0) {
            Ok(size) => size,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let reply = <NetlinkMessage<SockDiagMessage>>::deserialize(&self.received[..size])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(match reply.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                Some(*response)
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn sees_bytes_the_server_has_not_read_yet() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server_addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(server_addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let client_addr = client.local_addr().unwrap();
        let mut queue = ServerQueue::open().unwrap();
        let end = |queue: &mut ServerQueue| queue.server_end(server_addr, client_addr).unwrap();
        assert_eq!(
            end(&mut queue),
            Some(ServerEnd {
                unread: 0,
                accepted: true
            })
        );
        assert_eq!(queue.received(server_addr, client_addr).unwrap(), Some(0));
        client.write_all(b"hello").unwrap();
        // Loopback delivers at once; the server has not read yet.
        let mut waited = 0;
        while queue
            .server_end(server_addr, client_addr)
            .unwrap()
            .map(|e| e.unread)
            != Some(5)
            && waited < 100
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
            waited += 1;
        }
        assert_eq!(end(&mut queue).map(|e| e.unread), Some(5));
        assert_eq!(queue.received(server_addr, client_addr).unwrap(), Some(5));
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(end(&mut queue).map(|e| e.unread), Some(0));
        // A connection that does not exist is not found.
        let nowhere: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(queue.server_end(nowhere, client_addr).unwrap(), None);
        // One the server has not accepted yet waits in the listen queue.
        let mut waiting = std::net::TcpStream::connect(server_addr).unwrap();
        waiting.write_all(b"hi").unwrap();
        let waiting_addr = waiting.local_addr().unwrap();
        let mut seen = None;
        for _ in 0..100 {
            seen = queue.server_end(server_addr, waiting_addr).unwrap();
            if seen.is_some_and(|e| e.unread == 2) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            seen,
            Some(ServerEnd {
                unread: 2,
                accepted: false
            })
        );
    }

    #[test]
    fn sees_the_server_send_buffer_fill_when_the_client_does_not_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server_addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server_addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let client_addr = client.local_addr().unwrap();
        let mut queue = ServerQueue::open().unwrap();
        assert_eq!(
            queue.send_full(server_addr, client_addr).unwrap(),
            Some(false)
        );
        server.set_nonblocking(true).unwrap();
        let block = vec![b'x'; 64 * 1024];
        let mut written = 0usize;
        // The client never reads: the server's writes fill its send buffer, then fail.
        while written < 64 << 20 {
            match server.write(&block) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(written < 64 << 20, "the writes came up short");
        assert_eq!(
            queue.send_full(server_addr, client_addr).unwrap(),
            Some(true)
        );
        drop(client);
    }
}

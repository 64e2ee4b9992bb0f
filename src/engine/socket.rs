//! A connected socket as a delivery uses it: TCP or a Unix domain stream socket, plain or
//! with TLS over it. Either way the delivery reads and writes through two halves, and paces
//! through the socket beneath (its queue of bytes not yet acknowledged, or on a Unix socket
//! not yet read; a TCP socket's addresses for the server's queues). The halves join again
//! for a TLS handshake mid-conversation ([`upgrade`]): what follows goes inside TLS.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

use crate::config::Endpoint;
use crate::platform::is_local_exhaustion;
use crate::tls::Tls;
use crate::wire::ConnectError;

/// A connected stream of any kind: plain, or TLS over one.
pub(crate) trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

/// The reading half of a connection.
pub(crate) type Reader = ReadHalf<Box<dyn Duplex>>;
/// The writing half of a connection.
pub(crate) type Writer = WriteHalf<Box<dyn Duplex>>;

/// The two halves of `stream`, which [`upgrade`] can join again.
pub(crate) fn halves(stream: impl Duplex + 'static) -> (Reader, Writer) {
    tokio::io::split(Box::new(stream) as Box<dyn Duplex>)
}

/// The TCP socket beneath a connection, for the kernel's view of it (`SIOCOUTQ`). Valid as
/// long as the connection's halves live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SocketFd(RawFd);

impl AsRawFd for SocketFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A connected stream socket.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Connects to `endpoint` once, as a probe or a check does (a delivery's own TCP socket gets
/// its options first: [`Connection`](super::Connection)). A Unix socket whose listen queue is
/// full says so at once (`EAGAIN`), where TCP would wait: it is tried again until `limit`.
pub(crate) async fn connect(endpoint: &Endpoint, limit: Duration) -> Result<Stream, ConnectError> {
    let attempt = async {
        match endpoint {
            Endpoint::Tcp(addr) => TcpStream::connect(addr).await.map(Stream::Tcp),
            Endpoint::Unix(path) => connect_unix(path).await.map(Stream::Unix),
        }
    };
    match timeout(limit, attempt).await {
        Err(_) => Err(ConnectError::TimedOut(limit)),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(classify_connect_error(e)),
    }
}

/// Connects to the Unix socket at `path`, waiting while its listen queue is full (the
/// caller bounds the wait).
pub(crate) async fn connect_unix(path: &std::path::Path) -> io::Result<UnixStream> {
    let mut backoff = Duration::from_millis(1);
    loop {
        match UnixStream::connect(path).await {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// A failed connect: this machine's own shortage (no free local port, no file descriptor),
/// or the server's refusal.
pub(crate) fn classify_connect_error(e: io::Error) -> ConnectError {
    if is_local_exhaustion(&e) {
        ConnectError::Local(e)
    } else {
        ConnectError::Refused(e)
    }
}

/// A connection ready to deliver on.
pub(crate) struct Opened {
    pub(crate) reader: Reader,
    pub(crate) writer: Writer,
    pub(crate) fd: SocketFd,
    pub(crate) local: Option<SocketAddr>,
}

/// Makes `stream` ready: as it is, or after a TLS handshake (within `limit`).
pub(crate) async fn open(
    stream: Stream,
    tls: Option<&Tls>,
    limit: Duration,
) -> Result<Opened, ConnectError> {
    let (fd, local) = match &stream {
        Stream::Tcp(s) => (SocketFd(s.as_raw_fd()), s.local_addr().ok()),
        Stream::Unix(s) => (SocketFd(s.as_raw_fd()), None),
    };
    let (reader, writer) = match (stream, tls) {
        (Stream::Tcp(stream), None) => halves(stream),
        (Stream::Unix(stream), None) => halves(stream),
        (Stream::Tcp(stream), Some(tls)) => handshake(stream, tls, limit).await?,
        (Stream::Unix(stream), Some(tls)) => handshake(stream, tls, limit).await?,
    };
    Ok(Opened {
        reader,
        writer,
        fd,
        local,
    })
}

/// The halves of a connection after a TLS handshake on it, mid-conversation (within
/// `limit`): the two halves join, the handshake runs on the stream they were, and what
/// follows goes inside TLS. The halves must be the two of one connection.
pub(crate) async fn upgrade(
    reader: Reader,
    writer: Writer,
    tls: &Tls,
    limit: Duration,
) -> Result<(Reader, Writer), ConnectError> {
    handshake(reader.unsplit(writer), tls, limit).await
}

/// The TLS handshake on `stream` (within `limit`), and the halves of the TLS stream.
async fn handshake<S>(
    stream: S,
    tls: &Tls,
    limit: Duration,
) -> Result<(Reader, Writer), ConnectError>
where
    S: Duplex + 'static,
{
    let stream = match timeout(limit, tls.connect(stream)).await {
        Err(_) => return Err(ConnectError::TimedOut(limit)),
        // rustls's own refusals (a certificate, a name, a protocol) come as invalid
        // data: a setting to fix. A server that drops the connection mid-handshake
        // is refusing it.
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(ConnectError::Tls(e));
        }
        Ok(Err(e)) => {
            return Err(ConnectError::Refused(io::Error::new(
                e.kind(),
                format!("TLS handshake failed: {e}"),
            )));
        }
        Ok(Ok(stream)) => stream,
    };
    Ok(halves(stream))
}

/// Writes one chunk: one `write()`, and more only if the kernel took less; records what
/// each accepted. Then flushes, so that under TLS the chunk leaves as its own record.
pub(crate) async fn write_chunk(
    writer: &mut Writer,
    mut chunk: &[u8],
    accepted: &mut Vec<usize>,
) -> io::Result<()> {
    while !chunk.is_empty() {
        let n = writer.write(chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        accepted.push(n);
        chunk = &chunk[n..];
    }
    writer.flush().await
}

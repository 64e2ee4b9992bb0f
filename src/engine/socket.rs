//! A connected socket as a delivery uses it: plain TCP, or TLS over it. Either way the
//! delivery reads and writes through two halves, and paces through the TCP socket beneath
//! (its unacknowledged bytes, its addresses for the server's queues).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::tls::Tls;
use crate::wire::ConnectError;

/// The reading half of a connection.
pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection.
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The TCP socket beneath a connection, for the kernel's view of it (`SIOCOUTQ`). Valid as
/// long as the connection's halves live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SocketFd(RawFd);

impl AsRawFd for SocketFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
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
    stream: TcpStream,
    tls: Option<&Tls>,
    limit: Duration,
) -> Result<Opened, ConnectError> {
    let fd = SocketFd(stream.as_raw_fd());
    let local = stream.local_addr().ok();
    let (reader, writer): (Reader, Writer) = match tls {
        None => {
            let (reader, writer) = stream.into_split();
            (Box::new(reader), Box::new(writer))
        }
        Some(tls) => {
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
            let (reader, writer) = tokio::io::split(stream);
            (Box::new(reader), Box::new(writer))
        }
    };
    Ok(Opened {
        reader,
        writer,
        fd,
        local,
    })
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

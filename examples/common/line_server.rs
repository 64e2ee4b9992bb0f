//! The server the examples fuzz, standing in for yours: a line protocol (`PING` answers
//! `PONG`, `ECHO <text>` answers `<text>`), served on the listener the harness binds.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves every connection of `listener`; with `buggy`, it takes each `read()` for whole
/// lines, as a server tested only by clients that write each request at once would.
pub(crate) async fn serve(listener: TcpListener, buggy: bool) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, buggy));
    }
}

/// Serves one connection, plain or behind TLS.
pub(crate) async fn connection(mut stream: impl AsyncRead + AsyncWrite + Unpin, buggy: bool) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        // BUG (with `buggy`): a read that ends mid-line is taken as a whole line, and a
        // command cut short is not one this server knows.
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            stream.write_all(&answer(&line[..end])).await.ok();
        }
        if buggy && !pending.is_empty() {
            let line = std::mem::take(&mut pending);
            assert!(
                line.starts_with(b"PING") || line.starts_with(b"ECHO"),
                "unknown command {:?}",
                String::from_utf8_lossy(&line)
            );
            stream.write_all(&answer(&line)).await.ok();
        }
    }
}

fn answer(line: &[u8]) -> Vec<u8> {
    let mut out = match line.strip_prefix(b"ECHO ") {
        Some(text) => text.to_vec(),
        None => b"PONG".to_vec(),
    };
    out.push(b'\n');
    out
}

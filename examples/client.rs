//! The client direction: a client that is an async function in the test's own process, run
//! against recorded answers (`fixtures/client/answers`) cut into reads of their own. Copy
//! `fuzz` into a test of your crate, with your client in place of `get_greeting`.
//!
//! ```text
//! cargo run --example client              # a client that takes one read as the whole reply
//! cargo run --example client -- --correct # one that reads until the reply is complete
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use stutterfuzz::{Regressions, StutterClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asks for the greeting and returns the reply. The RESP bulk reply `$12\r\nhello, world\r\n`
/// is complete once its last line end came; with `whole_at_once`, the client takes its first
/// read for all of it.
async fn get_greeting(addr: SocketAddr, whole_at_once: bool) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET greeting\r\n").await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        reply.extend_from_slice(&buf[..n]);
        // BUG (with `whole_at_once`): one read is taken as the whole reply.
        if n == 0 || whole_at_once || reply.ends_with(b"world\r\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// What a test would hold.
fn fuzz(whole_at_once: bool) -> StutterClient {
    let answers = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/client/answers");
    StutterClient::function(move |addr| get_greeting(addr, whole_at_once))
        .answers(answers)
        .cycles(300)
        .regressions(Regressions::Off)
}

fn main() -> ExitCode {
    let whole_at_once = !std::env::args().any(|a| a == "--correct");
    // In a test: `fuzz(..).run_for(Duration::from_secs(10))`, which panics with the report.
    match fuzz(whole_at_once).try_run_for(Duration::from_secs(10)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("{failure}");
            ExitCode::from(1)
        }
    }
}

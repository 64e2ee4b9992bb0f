//! `stutterfuzz capture --listen ADDR --upstream ADDR --out DIR`: a recording proxy.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Record blobs from a real client through a proxy
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz capture",
    about = "Record blobs from real clients: listen on --listen, pass every connection to \
--upstream and its answers back, unchanged, and write what each client connection sent as one \
blob in --out (named in the order they began, by what they are: first word, HTTP method and path, or hex of a binary start), with where the client \
waited for the server (`#~ wait` lines) and what the server answered (`#~ heard` lines, never \
sent). Ctrl-C (or SIGTERM) stops it; connections still open are written with what they sent \
so far.",
    after_help = "Example: stutterfuzz capture --listen 127.0.0.1:7379 --upstream 127.0.0.1:6379 \
--out fixtures/redis, then point the client at port 7379 (redis-cli -p 7379 ...)"
)]
pub(crate) struct CaptureArgs {
    /// Where clients connect: HOST:PORT (port 0 picks a free one, printed at start)
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,

    /// The real server: HOST:PORT
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,

    /// Where the blobs go (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `capture` with the arguments after the word `capture`.
pub(crate) fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = CaptureArgs::parse_from(args);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("stutterfuzz capture: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn address(flag: &str, text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            format!("{flag} {text:?} is not an address: write HOST:PORT, such as 127.0.0.1:6379")
        })
}

fn run(args: &CaptureArgs) -> Result<(), String> {
    let listen = address("--listen", &args.listen)?;
    let upstream = address("--upstream", &args.upstream)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the proxy's runtime: {e}"))?;
    runtime.block_on(async {
        let proxy = stutterfuzz::traffic::RecordingProxy::bind(listen, upstream, &args.out)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "stutterfuzz capture: listening on {}, passing connections to {upstream}, blobs to {}; Ctrl-C stops",
            proxy.local_addr(),
            args.out.display()
        );
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match term.as_mut() {
                        Some(term) => { term.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        };
        let recorded = proxy.run(stop).await.map_err(|e| e.to_string())?;
        eprintln!(
            "stutterfuzz capture: {} connections, {} bytes, {} blobs written to {}",
            recorded.connections,
            recorded.bytes,
            recorded.files.len(),
            args.out.display()
        );
        Ok(())
    })
}

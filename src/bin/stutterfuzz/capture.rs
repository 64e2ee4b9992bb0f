//! `stutterfuzz capture --listen ADDR --upstream ADDR --out DIR`: a recording proxy, which
//! records inside TLS too when a client starts it mid-conversation and TLS settings are given.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use stutterfuzz::traffic::RecordingProxy;

/// Record blobs from a real client through a proxy
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz capture",
    about = "Record blobs from real clients: listen on --listen, pass every connection to \
--upstream and its answers back, unchanged, and write what each client connection sent as one \
blob in --out (named in the order they began, by what they are: first word, HTTP method and path, \
an HTTP/2 connection's first request, or hex of a binary start), with where the client \
waited for the server (`#~ wait` lines: a byte count, or for HTTP/2 the frame and for WebSocket \
the end of the 101 head) and what the server answered (`#~ heard` lines, never \
sent). A client that starts TLS mid-conversation (STARTTLS) is recorded inside it when \
--tls-ca or --tls-insecure is given: the proxy ends TLS on both sides, marks the blob `#~ tls` \
there, and records the plaintext; the client is to trust the proxy's certificate (--tls-cert, \
or a throwaway one written to OUT/.capture-cert.pem). Ctrl-C (or SIGTERM) stops it; connections \
still open are written with what they sent so far.",
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

    /// Record STARTTLS: trust the server's certificate if this PEM file (a test CA, or the
    /// server's own) vouches for it
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,

    /// Record STARTTLS without checking the server's certificate (test servers only)
    #[arg(long)]
    tls_insecure: bool,

    /// With --tls-ca or --tls-insecure, the server name to ask for and check (default: the
    /// --upstream host, as written)
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,

    /// With --tls-ca or --tls-insecure, the certificate (PEM) the proxy shows clients that
    /// start TLS (default: a throwaway one for localhost, written to OUT/.capture-cert.pem)
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
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
    let not_an_address =
        || format!("{flag} {text:?} is not an address: write HOST:PORT, such as 127.0.0.1:6379");
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(not_an_address());
    };
    if port.parse::<u16>().is_err() {
        return Err(not_an_address());
    }
    match text.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(not_an_address),
        Err(e) => Err(format!(
            "{flag} {text:?}: the host {host:?} does not resolve ({e}): check its name, or give its IP address"
        )),
    }
}

/// The TLS settings for the server, when STARTTLS is to be recorded: `--tls-ca FILE` or
/// `--tls-insecure`, and the server name (by default the `--upstream` host); the other TLS
/// flags without either, or `--tls-cert` without `--tls-key` (or the other way round), are
/// usage errors.
fn tls_options(args: &CaptureArgs) -> Result<Option<stutterfuzz::TlsOptions>, String> {
    let mut options = match (&args.tls_ca, args.tls_insecure) {
        (_, true) => stutterfuzz::TlsOptions::insecure(),
        (Some(ca), false) => stutterfuzz::TlsOptions::with_ca(ca),
        (None, false) => {
            if args.tls_server_name.is_some() || args.tls_cert.is_some() || args.tls_key.is_some() {
                return Err("--tls-server-name, --tls-cert and --tls-key need --tls-ca FILE (the CA or the server's certificate) or --tls-insecure (test servers)".into());
            }
            return Ok(None);
        }
    };
    match (&args.tls_cert, &args.tls_key) {
        (Some(_), None) => return Err("--tls-cert needs --tls-key (its private key)".into()),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert (its certificate)".into()),
        _ => {}
    }
    // The host as written (a name, not the address it resolves to) unless told otherwise.
    let host = args.upstream.rsplit_once(':').map(|(host, _)| host);
    if let Some(name) = args.tls_server_name.as_deref().or(host) {
        options = options.server_name(name);
    }
    Ok(Some(options))
}

/// The proxy with the TLS settings, if any, and its warnings printed.
fn with_tls(
    mut proxy: RecordingProxy,
    args: &CaptureArgs,
    tls: Option<stutterfuzz::TlsOptions>,
) -> Result<RecordingProxy, String> {
    proxy = proxy.on_warning(|warning| eprintln!("stutterfuzz capture: {warning}"));
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        proxy = proxy.tls_identity(cert, key).map_err(|e| e.to_string())?;
    }
    match tls {
        Some(options) => proxy.tls(options).map_err(|e| e.to_string()),
        None => Ok(proxy),
    }
}

fn run(args: &CaptureArgs) -> Result<(), String> {
    let listen = address("--listen", &args.listen)?;
    let upstream = address("--upstream", &args.upstream)?;
    let tls = tls_options(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the proxy's runtime: {e}"))?;
    runtime.block_on(async {
        let proxy = RecordingProxy::bind(listen, upstream, &args.out)
            .await
            .map_err(|e| e.to_string())?;
        let proxy = with_tls(proxy, args, tls)?;
        eprintln!(
            "stutterfuzz capture: listening on {}, passing connections to {upstream}, blobs to {}; Ctrl-C stops",
            proxy.local_addr(),
            args.out.display()
        );
        if let Some(cert) = proxy.tls_certificate() {
            eprintln!(
                "stutterfuzz capture: clients that start TLS are to trust the proxy's certificate {}",
                cert.display()
            );
        }
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
        let count = |n: usize, word: &str| match n {
            1 => format!("1 {word}"),
            n => format!("{n} {word}s"),
        };
        eprintln!(
            "stutterfuzz capture: {}, {} bytes, {} written to {}",
            count(recorded.connections, "connection"),
            recorded.bytes,
            count(recorded.files.len(), "blob"),
            args.out.display()
        );
        Ok(())
    })
}

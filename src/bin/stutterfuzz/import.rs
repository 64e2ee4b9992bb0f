//! `stutterfuzz import FILE --port P --out DIR`: blobs from a packet capture.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Turn the client-to-server side of every TCP connection to one port in a packet capture
/// into a blob
#[derive(Debug, Parser)]
#[command(
    name = "stutterfuzz import",
    about = "Turn every TCP connection to one server port in a pcap or pcapng capture (tcpdump, \
tshark, Wireshark) into a blob: the bytes the client sent, reassembled, with where it waited \
for the server (`#~ wait` lines) and what the server answered (`#~ heard` lines, never sent). \
Streams the capture lost a segment of are reported and skipped.",
    after_help = "Example: tcpdump -i lo -w redis.pcap port 6379, run a client, then \
stutterfuzz import redis.pcap --port 6379 --out fixtures/redis"
)]
pub(crate) struct ImportArgs {
    /// The capture: pcap or pcapng
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The server's port: connections to it become blobs
    #[arg(long)]
    port: u16,

    /// Where the blobs go (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `import` with the arguments after the word `import`.
pub(crate) fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = ImportArgs::parse_from(args);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("stutterfuzz import: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &ImportArgs) -> Result<(), String> {
    if args.port == 0 {
        return Err("--port 0 matches no connection: give the server's port".into());
    }
    let imported =
        stutterfuzz::traffic::import_capture(&args.file, args.port).map_err(|e| e.to_string())?;
    for gap in &imported.gaps {
        eprintln!(
            "stutterfuzz import: skipped the stream from {} to {}: the capture lost {} bytes at byte {}",
            gap.client, gap.server, gap.missing, gap.at
        );
    }
    if imported.streams.is_empty() {
        return Err(format!(
            "no client bytes to port {} in {} ({} packets, {} streams with gaps, {} empty): check the port and the capture filter",
            args.port,
            args.file.display(),
            imported.packets,
            imported.gaps.len(),
            imported.empty
        ));
    }
    let written = stutterfuzz::traffic::write_blobs(&imported.streams, &args.out)
        .map_err(|e| e.to_string())?;
    let bytes: usize = imported.streams.iter().map(|s| s.bytes.len()).sum();
    eprintln!(
        "stutterfuzz import: {} blobs ({bytes} bytes) from {} packets written to {}; {} streams skipped for gaps, {} empty",
        written.len(),
        imported.packets,
        args.out.display(),
        imported.gaps.len(),
        imported.empty
    );
    Ok(())
}

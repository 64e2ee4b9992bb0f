//! Real traffic in: blobs from real clients, recorded through a proxy or taken from a
//! packet capture.
//!
//! A user's blobs are best taken from real clients. [`RecordingProxy`] stands between a
//! client and the server, passes bytes both ways unchanged and writes what each client
//! connection sent as a blob; given TLS settings, it records inside TLS too when a client
//! starts it mid-conversation (STARTTLS). [`import_capture`] reads a pcap or
//! pcapng file (tcpdump, tshark, Wireshark), reassembles every TCP stream to one server port
//! (IPv4 and IPv6, segments out of order or retransmitted, streams that began before the
//! capture) and returns each client's bytes, with its turns (where it went on only after the
//! server had spoken); a stream the capture lost a segment of is
//! reported as a [`Gap`] and skipped, never guessed. [`write_blobs`] writes them as blob
//! files whose names sort by time and say what each is (its first word, an HTTP method and
//! path, or the hex of a binary start).
//!
//! ```no_run
//! let imported = stutterfuzz::traffic::import_capture("redis.pcap", 6379)?;
//! let written = stutterfuzz::traffic::write_blobs(&imported.streams, "fixtures/redis")?;
//! println!("{} blobs, {} streams with gaps skipped", written.len(), imported.gaps.len());
//! # Ok::<(), stutterfuzz::traffic::TrafficError>(())
//! ```

mod capture_file;
mod connection;
mod framed_waits;
mod naming;
mod proxy;
mod reassemble;
mod starttls;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::corpus::{RecordedAnswer, WaitPoint};

use naming::blob_name;
pub use proxy::{Recorded, RecordingProxy};
pub use reassemble::{Gap, Stream};

/// The streams of a capture.
#[derive(Clone, Debug)]
pub struct Imported {
    /// Each whole stream with client bytes, oldest first.
    pub streams: Vec<Stream>,
    /// The streams the capture lost part of, skipped.
    pub gaps: Vec<Gap>,
    /// Streams to the port whose client sent nothing.
    pub empty: usize,
    /// Packets in the capture.
    pub packets: usize,
}

/// Why a capture could not be imported, or its blobs written: one line that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficError {
    message: String,
}

impl fmt::Display for TrafficError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TrafficError {}

fn error(message: String) -> TrafficError {
    TrafficError { message }
}

/// Reads the capture at `path` and reassembles the client-to-server stream of every TCP
/// connection to port `port`.
pub fn import_capture(path: impl AsRef<Path>, port: u16) -> Result<Imported, TrafficError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| {
        error(format!(
            "cannot read capture {}: {e}; check the path",
            path.display()
        ))
    })?;
    let bytes = capture_file::read_all(file)
        .map_err(|e| error(format!("cannot read capture {}: {e}", path.display())))?;
    let captured = capture_file::segments_to(&bytes, port).map_err(|e| {
        error(format!(
            "{} is not a pcap or pcapng capture ({e}); write one with `tcpdump -i lo -w FILE port {port}`",
            path.display()
        ))
    })?;
    let mut imported = Imported {
        streams: Vec::new(),
        gaps: Vec::new(),
        empty: 0,
        packets: captured.packets,
    };
    for stream in reassemble::reassemble(captured.segments) {
        match stream {
            Ok(stream) if stream.bytes.is_empty() && stream.waits.is_empty() => imported.empty += 1,
            Ok(stream) => imported.streams.push(stream),
            Err(gap) => imported.gaps.push(gap),
        }
    }
    Ok(imported)
}

/// Writes each stream as a blob file in `dir` (created if missing): `0001-set`, `0002-get`…,
/// numbered in the order the streams began, named by what they are (the first word, an HTTP
/// method and path, or the first bytes in hex); a stream with turns as a conversation that
/// waits for the server there. Returns the paths.
pub fn write_blobs(
    streams: &[Stream],
    dir: impl AsRef<Path>,
) -> Result<Vec<PathBuf>, TrafficError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir)
        .map_err(|e| error(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::with_capacity(streams.len());
    for (i, stream) in streams.iter().enumerate() {
        let path = dir.join(blob_name(i + 1, &stream.bytes));
        let file = blob_file(&stream.bytes, &stream.waits, &stream.heard);
        std::fs::write(&path, file)
            .map_err(|e| error(format!("cannot write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// What a recorded connection's blob file holds: the client's bytes as they are, or, with
/// turns or answers, a conversation whose waits are in its protocol's terms where it speaks
/// HTTP/2 or WebSocket (`framed_waits`).
fn blob_file(bytes: &[u8], waits: &[WaitPoint], heard: &[RecordedAnswer]) -> Vec<u8> {
    if waits.is_empty() && heard.is_empty() {
        return bytes.to_vec();
    }
    let waits = framed_waits::in_protocol_terms(bytes, waits, heard);
    crate::corpus::write_conversation(bytes, &waits, heard)
}

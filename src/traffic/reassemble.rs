//! TCP streams from captured segments: the client's bytes of each connection, in order,
//! whatever order the capture holds them in. Retransmitted and overlapping segments are
//! merged; a stream with a hole (a segment the capture lost) is reported, never guessed.
//! Pure: tested with hand-made segments.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// One captured client-to-server TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) time: Duration,
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) seq: u32,
    /// The connection's first segment: its data starts at `seq + 1`.
    pub(crate) syn: bool,
    pub(crate) payload: Vec<u8>,
}

/// The client's bytes of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// When the capture first saw the connection.
    pub first_seen: Duration,
    /// Whether the capture saw the connection open (its SYN): without it, the stream began
    /// before the capture and its first bytes may be missing.
    pub saw_open: bool,
    /// What the client sent, in order.
    pub bytes: Vec<u8>,
}

/// A stream the capture lost part of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// The offset in the stream where bytes are missing.
    pub at: usize,
    /// How many bytes are missing there.
    pub missing: usize,
}

/// One connection being put together.
struct Open {
    first_seen: Duration,
    syn: Option<u32>,
    segments: Vec<(u32, Vec<u8>)>,
}

/// The client-to-server streams of `segments` (in capture order), oldest first: each whole,
/// or the gap that keeps it from being whole.
pub(crate) fn reassemble(segments: Vec<Segment>) -> Vec<Result<Stream, Gap>> {
    let mut open: HashMap<(SocketAddr, SocketAddr), Open> = HashMap::new();
    let mut done = Vec::new();
    for segment in segments {
        let key = (segment.client, segment.server);
        // A new SYN on the same addresses after data is a new connection.
        if segment.syn
            && let Some(previous) = open.remove(&key)
        {
            if previous.syn == Some(segment.seq) {
                open.insert(key, previous); // a retransmitted SYN
            } else {
                done.push((previous.first_seen, finish(key, previous)));
            }
        }
        let entry = open.entry(key).or_insert_with(|| Open {
            first_seen: segment.time,
            syn: None,
            segments: Vec::new(),
        });
        if segment.syn {
            entry.syn = Some(segment.seq);
        }
        if !segment.payload.is_empty() {
            entry.segments.push((segment.seq, segment.payload));
        }
    }
    done.extend(
        open.into_iter()
            .map(|(key, stream)| (stream.first_seen, finish(key, stream))),
    );
    done.sort_by_key(|(seen, _)| *seen);
    done.into_iter().map(|(_, stream)| stream).collect()
}

/// Puts one connection's segments in order.
fn finish((client, server): (SocketAddr, SocketAddr), open: Open) -> Result<Stream, Gap> {
    // Offsets relative to the data's first byte: after the SYN, or else the earliest
    // sequence number seen (sequence numbers wrap, so compared as signed distances).
    let reference = match (open.syn, open.segments.first()) {
        (Some(syn), _) => syn.wrapping_add(1),
        (None, Some((seq, _))) => *seq,
        (None, None) => 0,
    };
    let mut placed: Vec<(i64, Vec<u8>)> = open
        .segments
        .into_iter()
        .map(|(seq, payload)| (i64::from(seq.wrapping_sub(reference) as i32), payload))
        .collect();
    let start = if open.syn.is_some() {
        0
    } else {
        placed.iter().map(|(offset, _)| *offset).min().unwrap_or(0)
    };
    placed.sort_by_key(|(offset, _)| *offset);
    let mut bytes = Vec::new();
    for (offset, payload) in placed {
        let offset = offset - start;
        let have = bytes.len() as i64;
        if offset > have {
            return Err(Gap {
                client,
                server,
                at: bytes.len(),
                missing: (offset - have) as usize,
            });
        }
        let skip = (have - offset) as usize;
        if skip < payload.len() {
            bytes.extend_from_slice(&payload[skip..]);
        }
    }
    Ok(Stream {
        client,
        server,
        first_seen: open.first_seen,
        saw_open: open.syn.is_some(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(port: u16, ms: u64, seq: u32, syn: bool, payload: &[u8]) -> Segment {
        Segment {
            time: Duration::from_millis(ms),
            client: SocketAddr::from(([127, 0, 0, 1], port)),
            server: SocketAddr::from(([127, 0, 0, 1], 6379)),
            seq,
            syn,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn out_of_order_and_retransmitted_segments_make_one_stream() {
        let streams = reassemble(vec![
            seg(5000, 0, 100, true, b""),
            seg(5000, 1, 109, false, b"GET k\n"),
            seg(5000, 2, 101, false, b"SET k "),
            seg(5000, 3, 101, false, b"SET k "),  // retransmitted
            seg(5000, 4, 105, false, b"k v\nGE"), // overlaps both
        ]);
        let stream = streams[0].clone().unwrap();
        assert_eq!(stream.bytes, b"SET k v\nGET k\n");
        assert!(stream.saw_open);
    }

    #[test]
    fn a_lost_segment_is_a_gap_and_streams_keep_their_order() {
        let streams = reassemble(vec![
            seg(5001, 5, 10, true, b""),
            seg(5001, 6, 11, false, b"ab"),
            seg(5001, 7, 20, false, b"xy"),
            seg(5000, 9, 0xffff_fffe, false, b"wrap"),
            seg(5000, 10, 2, false, b"ped"),
        ]);
        assert_eq!(
            streams[0],
            Err(Gap {
                client: SocketAddr::from(([127, 0, 0, 1], 5001)),
                server: SocketAddr::from(([127, 0, 0, 1], 6379)),
                at: 2,
                missing: 7,
            })
        );
        let begun_before = streams[1].clone().unwrap();
        assert_eq!(begun_before.bytes, b"wrapped", "sequence numbers wrap");
        assert!(!begun_before.saw_open);
    }

    #[test]
    fn a_port_used_again_starts_a_new_stream() {
        let streams = reassemble(vec![
            seg(5000, 0, 1, true, b""),
            seg(5000, 1, 2, false, b"one"),
            seg(5000, 5, 900, true, b""),
            seg(5000, 6, 901, false, b"two"),
        ]);
        let bytes: Vec<Vec<u8>> = streams.into_iter().map(|s| s.unwrap().bytes).collect();
        assert_eq!(bytes, [b"one".to_vec(), b"two".to_vec()]);
    }
}

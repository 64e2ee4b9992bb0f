//! TCP streams from captured segments: the client's bytes of each connection, in order,
//! whatever order the capture holds them in. Retransmitted and overlapping segments are
//! merged; a stream with a hole (a segment the capture lost) is reported, never guessed.
//! Pure: tested with hand-made segments.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::corpus::{RecordedAnswer, WaitFor, WaitPoint, can_wait_at};

/// One captured TCP segment of a connection to the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) time: Duration,
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) seq: u32,
    /// Its side's first segment (SYN, or the server's SYN-ACK): data starts at `seq + 1`.
    pub(crate) syn: bool,
    /// Sent by the server (an answer), not the client.
    pub(crate) from_server: bool,
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
    /// Where the client, at its start or after a line end, sent more only once the server
    /// had sent more (a greeting, an answer it waited for): its turns.
    pub waits: Vec<WaitPoint>,
    /// What the server sent, each piece after the client bytes the capture saw before it
    /// (up to the first byte the capture lost of the server's side).
    pub heard: Vec<RecordedAnswer>,
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

/// One side of a connection being put together: where its data starts (after its SYN), and
/// its segments (sequence number, capture time, payload).
#[derive(Default)]
struct Side {
    syn: Option<u32>,
    segments: Vec<(u32, Duration, Vec<u8>)>,
}

/// One connection being put together.
struct Open {
    first_seen: Duration,
    client: Side,
    server: Side,
}

/// The client-to-server streams of `segments` (in capture order), oldest first: each whole,
/// or the gap that keeps it from being whole.
pub(crate) fn reassemble(segments: Vec<Segment>) -> Vec<Result<Stream, Gap>> {
    let mut open: HashMap<(SocketAddr, SocketAddr), Open> = HashMap::new();
    let mut done = Vec::new();
    for segment in segments {
        let key = (segment.client, segment.server);
        // A new client SYN on the same addresses after data is a new connection.
        if segment.syn
            && !segment.from_server
            && let Some(previous) = open.remove(&key)
        {
            if previous.client.syn == Some(segment.seq) {
                open.insert(key, previous); // a retransmitted SYN
            } else {
                done.push((previous.first_seen, finish(key, previous)));
            }
        }
        let entry = open.entry(key).or_insert_with(|| Open {
            first_seen: segment.time,
            client: Side::default(),
            server: Side::default(),
        });
        let side = if segment.from_server {
            &mut entry.server
        } else {
            &mut entry.client
        };
        if segment.syn {
            side.syn = Some(segment.seq);
        }
        if !segment.payload.is_empty() {
            side.segments
                .push((segment.seq, segment.time, segment.payload));
        }
    }
    done.extend(
        open.into_iter()
            .map(|(key, stream)| (stream.first_seen, finish(key, stream))),
    );
    done.sort_by_key(|(seen, _)| *seen);
    done.into_iter().map(|(_, stream)| stream).collect()
}

/// One side's segments by their offset from its first data byte (sequence numbers wrap, so
/// compared as signed distances from the SYN, or else from the earliest seen), in order.
fn placed(side: Side) -> Vec<(i64, Duration, Vec<u8>)> {
    let reference = match (side.syn, side.segments.first()) {
        (Some(syn), _) => syn.wrapping_add(1),
        (None, Some((seq, _, _))) => *seq,
        (None, None) => 0,
    };
    let mut placed: Vec<(i64, Duration, Vec<u8>)> = side
        .segments
        .into_iter()
        .map(|(seq, time, payload)| (i64::from(seq.wrapping_sub(reference) as i32), time, payload))
        .collect();
    let start = if side.syn.is_some() {
        0
    } else {
        placed
            .iter()
            .map(|(offset, _, _)| *offset)
            .min()
            .unwrap_or(0)
    };
    for segment in &mut placed {
        segment.0 -= start;
    }
    // Stable: of two copies of one offset, the first sent stays first.
    placed.sort_by_key(|(offset, _, _)| *offset);
    placed
}

/// Puts one connection's client segments in order, with a wait wherever the client sent more
/// only after the server had.
fn finish((client, server): (SocketAddr, SocketAddr), open: Open) -> Result<Stream, Gap> {
    let saw_open = open.client.syn.is_some();
    // How far the server's answer had gone by each moment.
    let server_side = placed(open.server);
    let answers: Vec<(Duration, u64)> = server_side
        .iter()
        .map(|(offset, time, payload)| (*time, ((*offset).max(0) as u64) + payload.len() as u64))
        .collect();
    let heard_by = |time: Duration| {
        answers
            .iter()
            .filter(|(at, _)| *at < time)
            .map(|(_, end)| *end)
            .max()
            .unwrap_or(0)
    };
    let mut bytes = Vec::new();
    let mut waits = Vec::new();
    let mut heard_before = 0;
    let mut sent_by = Vec::new();
    for (offset, time, payload) in placed(open.client) {
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
        if skip >= payload.len() {
            continue; // all of it already placed
        }
        let heard = heard_by(time);
        if heard > heard_before && can_wait_at(&bytes, bytes.len()) {
            waits.push(WaitPoint {
                at: bytes.len(),
                until: WaitFor::Bytes(heard),
            });
            heard_before = heard;
        }
        bytes.extend_from_slice(&payload[skip..]);
        sent_by.push((time, bytes.len()));
    }
    let heard = server_said(server_side, &sent_by);
    Ok(Stream {
        client,
        server,
        first_seen: open.first_seen,
        saw_open,
        bytes,
        waits,
        heard,
    })
}

/// The server's side in order, each new piece placed after the client bytes sent before it
/// (`sent_by`: capture time, client bytes by then); it stops where the capture lost some.
fn server_said(
    server_side: Vec<(i64, Duration, Vec<u8>)>,
    sent_by: &[(Duration, usize)],
) -> Vec<RecordedAnswer> {
    let mut heard: Vec<RecordedAnswer> = Vec::new();
    let mut have = 0i64;
    for (offset, time, payload) in server_side {
        if offset > have {
            break; // lost: what follows would be guessed
        }
        let skip = (have - offset) as usize;
        if skip >= payload.len() {
            continue;
        }
        have += (payload.len() - skip) as i64;
        let at = sent_by
            .iter()
            .filter(|(t, _)| *t < time)
            .map(|(_, end)| *end)
            .max()
            .unwrap_or(0);
        RecordedAnswer::add(&mut heard, at, &payload[skip..]);
    }
    heard
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
            from_server: false,
            payload: payload.to_vec(),
        }
    }

    fn answer(port: u16, ms: u64, seq: u32, syn: bool, payload: &[u8]) -> Segment {
        Segment {
            from_server: true,
            ..seg(port, ms, seq, syn, payload)
        }
    }

    #[test]
    fn the_client_waiting_for_the_server_becomes_waits_at_line_ends() {
        let streams = reassemble(vec![
            seg(5000, 0, 100, true, b""),
            answer(5000, 1, 700, true, b""),
            answer(5000, 2, 701, false, b"220 ready\r\n"), // a greeting first
            seg(5000, 3, 101, false, b"SET k v\n"),
            answer(5000, 4, 712, false, b"+OK\n"),
            seg(5000, 5, 109, false, b"GET "), // sent after the answer: a turn
            seg(5000, 6, 113, false, b"k\n"),
        ]);
        let stream = streams[0].clone().unwrap();
        assert_eq!(stream.bytes, b"SET k v\nGET k\n");
        assert_eq!(
            stream.waits,
            [
                WaitPoint {
                    at: 0,
                    until: WaitFor::Bytes(11)
                },
                WaitPoint {
                    at: 8,
                    until: WaitFor::Bytes(15)
                },
            ]
        );
        // And what the server said, each piece after what the client had sent by then.
        assert_eq!(
            stream.heard,
            [
                RecordedAnswer {
                    at: 0,
                    bytes: b"220 ready\r\n".to_vec()
                },
                RecordedAnswer {
                    at: 8,
                    bytes: b"+OK\n".to_vec()
                },
            ]
        );
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
        assert!(stream.waits.is_empty(), "the server never spoke");
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

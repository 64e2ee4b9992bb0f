//! Frames of the protocols that say where their records begin: HTTP/2 frames, WebSocket
//! frames after an upgrade, TLS records. A parser breaks most often where a read ends inside
//! a frame header, at any depth of the stream: a server's parser reading a client's requests,
//! and a client's reading a server's answers alike. Knowing the frames lets the generator cut
//! there, and counts real frame starts where line ends and NUL bytes would mean nothing.
//! Both directions are read here, by one parser: they differ only in how a stream opens a
//! framed protocol (a client with the HTTP/2 preface or an upgrade request, a server with its
//! SETTINGS frame or its `101` answer). These parse in a few steps per frame, so a whole
//! stream is searched, not only its first bytes.

/// A record of a part: where it begins and how many of its first bytes are a frame header
/// (0 for a record with no header to cut inside, such as the HTTP/2 preface or a line of an
/// upgrade request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) at: usize,
    pub(crate) header: usize,
}

/// What a part of a conversation speaks, carried to the part after it: frames may go on
/// after a wait (HTTP/2 after the server's SETTINGS, WebSocket after its `101`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Protocol {
    #[default]
    Unknown,
    Http2,
    WebSocket,
    Tls,
}

/// Which way a byte stream goes: what a client sends a server (requests, the server
/// direction's blobs), or what a server sends a client (answers, which client mode cuts).
/// It decides only how a framed protocol opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Direction {
    #[default]
    Requests,
    Answers,
}

pub(crate) use super::http2::PREFACE;
use super::http2::{ACK, HEADER_LEN, SETTINGS, header};

/// How far into a part an upgrade request's (or its answer's) head is looked for.
const HEAD_SCAN: usize = 64 * 1024;

/// The records of `part` (offsets from its start) and what it speaks, when it speaks a
/// framed protocol; `before` is what the part before it spoke, `direction` which way the
/// stream goes. At most `room` frames.
pub(crate) fn framed(
    part: &[u8],
    before: Protocol,
    direction: Direction,
    room: usize,
) -> Option<(Protocol, Vec<Frame>)> {
    if let Some(opened) = opening(part, direction, room) {
        return Some(opened);
    }
    let order = match before {
        Protocol::Http2 => [Protocol::Http2, Protocol::Tls, Protocol::WebSocket],
        Protocol::WebSocket => [Protocol::WebSocket, Protocol::Tls, Protocol::Http2],
        Protocol::Tls | Protocol::Unknown => [Protocol::Tls, Protocol::Unknown, Protocol::Unknown],
    };
    order
        .into_iter()
        .find_map(|protocol| carried(part, protocol, room))
}

/// The records of a part that opens HTTP/2 or WebSocket as a stream of `direction` does:
/// requests with the preface (a record of its own) or an upgrade request; answers with the
/// server's SETTINGS frame or a `101` answer to an upgrade. A request head's or an answer
/// head's lines are records too, then its frames.
fn opening(part: &[u8], direction: Direction, room: usize) -> Option<(Protocol, Vec<Frame>)> {
    let record = |at| Frame { at, header: 0 };
    match direction {
        Direction::Requests => {
            if let Some(rest) = part.strip_prefix(PREFACE) {
                let mut frames = vec![record(0)];
                chain(rest, PREFACE.len(), http2_header, room, &mut frames);
                return Some((Protocol::Http2, frames));
            }
        }
        Direction::Answers if opens_with_settings(part) => {
            return carried(part, Protocol::Http2, room);
        }
        Direction::Answers => {}
    }
    let head = upgrade_head(part, direction)?;
    let mut frames: Vec<Frame> = std::iter::once(0)
        .chain(line_starts(&part[..head]))
        .map(record)
        .collect();
    chain(&part[head..], head, websocket_header, room, &mut frames);
    Some((Protocol::WebSocket, frames))
}

/// The frames of `part` read as `protocol` from its first byte, when they hold: they chain
/// to its end (or to `room`), or at least two of them do.
fn carried(part: &[u8], protocol: Protocol, room: usize) -> Option<(Protocol, Vec<Frame>)> {
    let header = match protocol {
        Protocol::Http2 => http2_header,
        Protocol::WebSocket => websocket_header,
        Protocol::Tls => tls_header,
        Protocol::Unknown => return None,
    };
    let mut frames = Vec::new();
    let end = chain(part, 0, header, room, &mut frames);
    let whole = end == part.len() || frames.len() == room;
    (whole && !frames.is_empty() || frames.len() >= 2).then_some((protocol, frames))
}

/// Whether `part` begins as an HTTP/2 server's answers do: a SETTINGS frame (no ACK) on
/// stream 0, its payload whole settings of 6 bytes each.
fn opens_with_settings(part: &[u8]) -> bool {
    header(part).is_some_and(|h| {
        h.kind == SETTINGS && h.flags & ACK == 0 && h.stream == 0 && !h.reserved && h.len % 6 == 0
    })
}

/// Reads frames from the start of `bytes` while their headers are well formed, pushing each
/// (its offset plus `base`), at most `room` in all; returns where the last whole frame ends.
fn chain(
    bytes: &[u8],
    base: usize,
    header: fn(&[u8]) -> Option<(usize, usize)>,
    room: usize,
    frames: &mut Vec<Frame>,
) -> usize {
    let mut at = 0;
    while at < bytes.len() && frames.len() < room {
        let Some((len, payload)) = header(&bytes[at..]) else {
            break;
        };
        frames.push(Frame {
            at: base + at,
            header: len,
        });
        match at.checked_add(len).and_then(|end| end.checked_add(payload)) {
            Some(end) if end <= bytes.len() => at = end,
            _ => break,
        }
    }
    at
}

/// An HTTP/2 frame header at the start of `bytes`: 24-bit length, a known type, flags, and a
/// stream id with its reserved bit clear. Its length (9) and the payload's.
fn http2_header(bytes: &[u8]) -> Option<(usize, usize)> {
    let h = header(bytes)?;
    (h.kind <= 9 && !h.reserved).then_some((HEADER_LEN, h.len))
}

/// A WebSocket frame header at the start of `bytes`: no reserved bit, a known opcode, a
/// 7-bit length or a 16- or 64-bit one after it, and a mask key when the mask bit is set.
fn websocket_header(bytes: &[u8]) -> Option<(usize, usize)> {
    let h = super::websocket::header(bytes)?;
    (h.reserved == 0 && matches!(h.opcode, 0..=2 | 8..=10)).then_some((h.len, h.payload))
}

/// A TLS record header at the start of `bytes`: content type 0x14 to 0x17, version 3.0 to
/// 3.4, 16-bit length.
fn tls_header(bytes: &[u8]) -> Option<(usize, usize)> {
    let h = bytes.get(..5)?;
    let ok = (0x14..=0x17).contains(&h[0]) && h[1] == 3 && h[2] <= 4;
    ok.then_some((5, usize::from(u16::from_be_bytes([h[3], h[4]]))))
}

/// The length of an HTTP/1 head at the start of `part` (up to and with its blank line) when
/// it is a request to upgrade to WebSocket (`direction` requests) or the server's yes to one
/// (answers: `101 Switching Protocols`).
pub(crate) fn upgrade_head(part: &[u8], direction: Direction) -> Option<usize> {
    let opens = match direction {
        Direction::Requests => part.starts_with(b"GET "),
        Direction::Answers => part.starts_with(b"HTTP/1.1 101"),
    };
    if !opens {
        return None;
    }
    let scan = &part[..part.len().min(HEAD_SCAN)];
    let head = scan.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let lower = part[..head].to_ascii_lowercase();
    let asks = lower.windows(18).any(|w| w == b"upgrade: websocket");
    asks.then_some(head)
}

/// The offsets just after each `\n` of a head, but its blank line's and its end.
fn line_starts(head: &[u8]) -> impl Iterator<Item = usize> + '_ {
    head.iter()
        .enumerate()
        .filter(move |&(i, &b)| b == b'\n' && i + 3 < head.len())
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use crate::split::http2::tests::h2;

    /// A masked WebSocket text frame.
    pub(crate) fn ws_text(text: &[u8]) -> Vec<u8> {
        let mut out = vec![0x81];
        match text.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        let key = [1, 2, 3, 4];
        out.extend_from_slice(&key);
        out.extend(text.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    /// An unmasked WebSocket text frame, as a server sends it.
    pub(crate) fn ws_answer(text: &[u8]) -> Vec<u8> {
        let mut out = vec![0x81];
        match text.len() {
            n if n < 126 => out.push(n as u8),
            n => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(text);
        out
    }

    /// A WebSocket server's yes to an upgrade.
    pub(crate) const SWITCHING: &[u8] =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

    fn starts(frames: &[Frame]) -> Vec<(usize, usize)> {
        frames.iter().map(|f| (f.at, f.header)).collect()
    }

    #[test]
    fn http2_frames_follow_the_preface() {
        let mut blob = PREFACE.to_vec();
        blob.extend(h2(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        blob.extend(h2(1, 4, 1, b"\x82\x86\x84"));
        let (protocol, frames) =
            framed(&blob, Protocol::Unknown, Direction::Requests, 100).unwrap();
        assert_eq!(protocol, Protocol::Http2);
        assert_eq!(starts(&frames), [(0, 0), (24, 9), (39, 9)]);
        // After a wait, the frames go on without a preface.
        let rest = h2(1, 5, 3, b"\x82");
        let (_, frames) = framed(&rest, Protocol::Http2, Direction::Requests, 100).unwrap();
        assert_eq!(starts(&frames), [(0, 9)]);
        assert_eq!(
            framed(b"SET k v\r\n", Protocol::Http2, Direction::Requests, 100),
            None
        );
    }

    #[test]
    fn websocket_frames_follow_an_upgrade_request() {
        let head = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
        let mut blob = head.to_vec();
        blob.extend(ws_text(b"hi"));
        blob.extend(ws_text(&[b'x'; 200]));
        let (protocol, frames) =
            framed(&blob, Protocol::Unknown, Direction::Requests, 100).unwrap();
        assert_eq!(protocol, Protocol::WebSocket);
        let h = head.len();
        assert_eq!(
            starts(&frames),
            [(0, 0), (20, 0), (29, 0), (h, 6), (h + 8, 8)]
        );
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            framed(plain, Protocol::Unknown, Direction::Requests, 100),
            None
        );
    }

    #[test]
    fn tls_records_chain() {
        let mut blob = vec![0x16, 3, 1, 0, 2, 1, 0];
        blob.extend([0x17, 3, 3, 0, 1, 9]);
        let (protocol, frames) =
            framed(&blob, Protocol::Unknown, Direction::Requests, 100).unwrap();
        assert_eq!(protocol, Protocol::Tls);
        assert_eq!(starts(&frames), [(0, 5), (7, 5)]);
        assert_eq!(
            framed(&blob[..9], Protocol::Unknown, Direction::Requests, 100),
            None,
            "one record and junk"
        );
        assert_eq!(
            framed(&blob, Protocol::Unknown, Direction::Requests, 1)
                .unwrap()
                .1
                .len(),
            1
        );
    }
}

#[cfg(test)]
mod answers {
    use super::tests::{SWITCHING, h2, ws_answer};
    use super::*;

    fn starts(part: &[u8], direction: Direction) -> Option<(Protocol, Vec<(usize, usize)>)> {
        let (protocol, frames) = framed(part, Protocol::Unknown, direction, 100)?;
        Some((protocol, frames.iter().map(|f| (f.at, f.header)).collect()))
    }

    #[test]
    fn an_http2_servers_answers_open_with_its_settings() {
        let mut answers = h2(4, 0, 0, &[0, 3, 0, 0, 0, 100]);
        answers.extend(h2(4, 1, 0, b""));
        answers.extend(h2(1, 4, 1, b"\x88"));
        let found = starts(&answers, Direction::Answers);
        assert_eq!(
            found,
            Some((Protocol::Http2, vec![(0, 9), (15, 9), (24, 9)]))
        );
        // Sent by a client, the same bytes open nothing (a client opens with the preface).
        assert_eq!(starts(&answers, Direction::Requests), None);
        // A SETTINGS ACK, a frame on a stream, or settings of odd length open nothing.
        for not_first in [h2(4, 1, 0, b""), h2(4, 0, 1, b""), h2(4, 0, 0, &[0; 5])] {
            assert_eq!(
                starts(&not_first, Direction::Answers),
                None,
                "{not_first:?}"
            );
        }
    }

    #[test]
    fn a_websocket_servers_answers_open_with_its_101() {
        let mut answers = SWITCHING.to_vec();
        answers.extend(ws_answer(b"hello"));
        answers.extend(ws_answer(&[b'x'; 300]));
        let h = SWITCHING.len();
        let found = starts(&answers, Direction::Answers);
        let expected = vec![(0, 0), (34, 0), (54, 0), (h, 2), (h + 7, 4)];
        assert_eq!(found, Some((Protocol::WebSocket, expected)));
        assert_eq!(starts(&answers, Direction::Requests), None);
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(starts(plain, Direction::Answers), None);
        // A request opens WebSocket only as requests.
        let request = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(starts(request, Direction::Answers), None);
    }
}

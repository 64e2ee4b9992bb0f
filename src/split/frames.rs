//! Frames of the protocols that say where their records begin: the HTTP/2 client preface and
//! the frames after it, WebSocket frames after an upgrade request, TLS records. A server's
//! parser breaks most often where a read ends inside a frame header, at any depth of the
//! stream; knowing the frames lets the generator cut there, and counts real frame starts
//! where line ends and NUL bytes would mean nothing. These parse in a few steps per frame,
//! so a whole blob is searched, not only its first bytes.

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

pub(crate) use super::http2::PREFACE;
use super::http2::{HEADER_LEN, header};

/// How far into a part an upgrade request's head is looked for.
const HEAD_SCAN: usize = 64 * 1024;

/// The records of `part` (offsets from its start) and what it speaks, when it speaks a
/// framed protocol; `before` is what the part before it spoke. At most `room` frames.
pub(crate) fn framed(part: &[u8], before: Protocol, room: usize) -> Option<(Protocol, Vec<Frame>)> {
    if let Some(rest) = part.strip_prefix(PREFACE) {
        let mut frames = vec![Frame { at: 0, header: 0 }];
        chain(rest, PREFACE.len(), http2_header, room, &mut frames);
        return Some((Protocol::Http2, frames));
    }
    if let Some(head) = upgrade_head(part) {
        let mut frames: Vec<Frame> = std::iter::once(0)
            .chain(line_starts(&part[..head]))
            .map(|at| Frame { at, header: 0 })
            .collect();
        chain(&part[head..], head, websocket_header, room, &mut frames);
        return Some((Protocol::WebSocket, frames));
    }
    let order = match before {
        Protocol::Http2 => [Protocol::Http2, Protocol::Tls, Protocol::WebSocket],
        Protocol::WebSocket => [Protocol::WebSocket, Protocol::Tls, Protocol::Http2],
        Protocol::Tls | Protocol::Unknown => [Protocol::Tls, Protocol::Unknown, Protocol::Unknown],
    };
    order.into_iter().find_map(|protocol| {
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
    let (&b0, &b1) = (bytes.first()?, bytes.get(1)?);
    let opcode = b0 & 0x0f;
    if b0 & 0x70 != 0 || !matches!(opcode, 0..=2 | 8..=10) {
        return None;
    }
    let (extended, len) = match b1 & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
        ),
        127 => (8, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
        short => (0, u64::from(short)),
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    Some((2 + extended + mask, usize::try_from(len).ok()?))
}

/// A TLS record header at the start of `bytes`: content type 0x14 to 0x17, version 3.0 to
/// 3.4, 16-bit length.
fn tls_header(bytes: &[u8]) -> Option<(usize, usize)> {
    let h = bytes.get(..5)?;
    let ok = (0x14..=0x17).contains(&h[0]) && h[1] == 3 && h[2] <= 4;
    ok.then_some((5, usize::from(u16::from_be_bytes([h[3], h[4]]))))
}

/// The length of an HTTP/1 request head at the start of `part` (up to and with its blank
/// line) when the request asks to upgrade to WebSocket.
pub(crate) fn upgrade_head(part: &[u8]) -> Option<usize> {
    if !part.starts_with(b"GET ") {
        return None;
    }
    let scan = &part[..part.len().min(HEAD_SCAN)];
    let head = scan.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let lower = part[..head].to_ascii_lowercase();
    let asks = lower.windows(18).any(|w| w == b"upgrade: websocket");
    asks.then_some(head)
}

/// The offsets just after each `\n` of a request head, but its blank line's and its end.
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

    fn starts(frames: &[Frame]) -> Vec<(usize, usize)> {
        frames.iter().map(|f| (f.at, f.header)).collect()
    }

    #[test]
    fn http2_frames_follow_the_preface() {
        let mut blob = PREFACE.to_vec();
        blob.extend(h2(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        blob.extend(h2(1, 4, 1, b"\x82\x86\x84"));
        let (protocol, frames) = framed(&blob, Protocol::Unknown, 100).unwrap();
        assert_eq!(protocol, Protocol::Http2);
        assert_eq!(starts(&frames), [(0, 0), (24, 9), (39, 9)]);
        // After a wait, the frames go on without a preface.
        let rest = h2(1, 5, 3, b"\x82");
        let (_, frames) = framed(&rest, Protocol::Http2, 100).unwrap();
        assert_eq!(starts(&frames), [(0, 9)]);
        assert_eq!(framed(b"SET k v\r\n", Protocol::Http2, 100), None);
    }

    #[test]
    fn websocket_frames_follow_an_upgrade_request() {
        let head = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
        let mut blob = head.to_vec();
        blob.extend(ws_text(b"hi"));
        blob.extend(ws_text(&[b'x'; 200]));
        let (protocol, frames) = framed(&blob, Protocol::Unknown, 100).unwrap();
        assert_eq!(protocol, Protocol::WebSocket);
        let h = head.len();
        assert_eq!(
            starts(&frames),
            [(0, 0), (20, 0), (29, 0), (h, 6), (h + 8, 8)]
        );
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(framed(plain, Protocol::Unknown, 100), None);
    }

    #[test]
    fn tls_records_chain() {
        let mut blob = vec![0x16, 3, 1, 0, 2, 1, 0];
        blob.extend([0x17, 3, 3, 0, 1, 9]);
        let (protocol, frames) = framed(&blob, Protocol::Unknown, 100).unwrap();
        assert_eq!(protocol, Protocol::Tls);
        assert_eq!(starts(&frames), [(0, 5), (7, 5)]);
        assert_eq!(
            framed(&blob[..9], Protocol::Unknown, 100),
            None,
            "one record and junk"
        );
        assert_eq!(framed(&blob, Protocol::Unknown, 1).unwrap().1.len(), 1);
    }
}

//! HTTP/2 frames as they go over the wire, read in one place for everyone who reads them: the
//! cutting of a client's frames (`frames`), the oracle that looks for a server's GOAWAY, a
//! conversation's frame waits, and capture, which names a recorded HTTP/2 connection and
//! writes its waits as frames. A frame is a 9-byte header (24-bit payload length, 8-bit
//! type, 8-bit flags, a reserved bit and a 31-bit stream id), then its payload.

/// The HTTP/2 client connection preface.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of a frame header.
pub(crate) const HEADER_LEN: usize = 9;

/// Frame types.
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;

/// The ACK flag of SETTINGS and PING.
pub(crate) const ACK: u8 = 0x1;
/// The END_HEADERS flag of HEADERS and CONTINUATION.
const END_HEADERS: u8 = 0x4;
/// The PADDED flag of HEADERS.
const PADDED: u8 = 0x8;
/// The PRIORITY flag of HEADERS.
const PRIORITY: u8 = 0x20;

/// The largest frame an HTTP/2 server sends before the client raises the limit.
const MAX_FRAME: usize = 16_384;

/// A frame header: its payload's length, type, flags and stream (the reserved bit cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    /// The reserved bit of the stream field was set (no sender sets it).
    pub(crate) reserved: bool,
}

/// The frame header at the start of `bytes`, when 9 bytes are there; any values.
pub(crate) fn header(bytes: &[u8]) -> Option<FrameHeader> {
    let h = bytes.get(..HEADER_LEN)?;
    Some(FrameHeader {
        len: usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]),
        kind: h[3],
        flags: h[4],
        stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        reserved: h[5] & 0x80 != 0,
    })
}

/// True when `answer` begins as an HTTP/2 server's does: a SETTINGS frame on stream 0, its
/// payload whole settings of 6 bytes, no larger than a frame may be.
pub(crate) fn starts_as_server(answer: &[u8]) -> bool {
    header(answer).is_some_and(|h| {
        h.kind == SETTINGS && h.stream == 0 && h.len % 6 == 0 && h.len <= MAX_FRAME
    })
}

/// The whole frames at the start of `bytes`, each header with its payload, until the bytes
/// end or a frame is cut off.
pub(crate) fn frames(bytes: &[u8]) -> impl Iterator<Item = (FrameHeader, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = header(&bytes[at..])?;
        let start = at + HEADER_LEN;
        let payload = bytes.get(start..start.checked_add(h.len)?)?;
        at = start + h.len;
        Some((h, payload))
    })
}

/// The header blocks a client sent in `bytes` (its preface, if any, skipped): each HEADERS
/// frame's fragment joined with its CONTINUATION frames', padding and priority taken off,
/// in the order they were sent. A block cut off at the end is left out.
pub(crate) fn header_blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let bytes = bytes.strip_prefix(PREFACE).unwrap_or(bytes);
    let mut blocks = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for (h, payload) in frames(bytes) {
        let fragment = match h.kind {
            HEADERS => fragment(h.flags, payload),
            CONTINUATION if open.is_some() => Some(payload),
            _ => None,
        };
        let Some(fragment) = fragment else {
            open = None;
            continue;
        };
        let block = open.get_or_insert_with(Vec::new);
        block.extend_from_slice(fragment);
        if h.flags & END_HEADERS != 0 {
            blocks.extend(open.take());
        }
    }
    blocks
}

/// The header block fragment of a HEADERS frame's payload: its pad length, priority fields
/// and padding taken off; `None` when the payload is too short for them.
fn fragment(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    let (pad, rest) = if flags & PADDED != 0 {
        let (&pad, rest) = payload.split_first()?;
        (usize::from(pad), rest)
    } else {
        (0, payload)
    };
    let rest = if flags & PRIORITY != 0 {
        rest.get(5..)?
    } else {
        rest
    };
    rest.get(..rest.len().checked_sub(pad)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An HTTP/2 frame: its header, then `payload`.
    pub(crate) fn h2(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len().to_be_bytes();
        let mut out = vec![len[5], len[6], len[7], kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_header_reads_its_fields_and_frames_stop_at_a_cut() {
        let mut bytes = h2(SETTINGS, 1, 0, &[]);
        bytes.extend(h2(1, 5, 0x8000_0003, b"\x88"));
        let h = header(&bytes[9..]).unwrap();
        assert_eq!(
            (h.len, h.kind, h.flags, h.stream, h.reserved),
            (1, 1, 5, 3, true)
        );
        assert_eq!(frames(&bytes).count(), 2);
        assert_eq!(frames(&bytes[..bytes.len() - 1]).count(), 1);
        assert_eq!(header(&bytes[..8]), None);
    }

    #[test]
    fn header_blocks_join_continuations_and_drop_padding_and_priority() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(h2(SETTINGS, 0, 0, &[]));
        bytes.extend(h2(HEADERS, 0, 1, b"\x82\x86"));
        bytes.extend(h2(CONTINUATION, END_HEADERS, 1, b"\x84"));
        // Padded (2 bytes of padding) and with priority (5 bytes).
        let mut padded = vec![2, 0, 0, 0, 0, 16];
        padded.extend_from_slice(b"\x83\x87\0\0");
        bytes.extend(h2(HEADERS, END_HEADERS | PADDED | PRIORITY, 3, &padded));
        bytes.extend(h2(HEADERS, 0, 5, b"\x82"));
        assert_eq!(
            header_blocks(&bytes),
            [b"\x82\x86\x84".to_vec(), b"\x83\x87".to_vec()]
        );
        // Padding longer than the payload is no block.
        assert!(header_blocks(&h2(HEADERS, END_HEADERS | PADDED, 1, &[9, 1])).is_empty());
    }

    #[test]
    fn a_server_begins_with_its_settings() {
        assert!(starts_as_server(&h2(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])));
        assert!(!starts_as_server(&h2(SETTINGS, 0, 1, &[])));
        assert!(!starts_as_server(&h2(SETTINGS, 0, 0, &[0, 3, 0])));
        assert!(!starts_as_server(b"HTTP/1.1 400 Bad Request\r\n"));
    }
}

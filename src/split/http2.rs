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

/// The ACK flag of SETTINGS and PING.
pub(crate) const ACK: u8 = 0x1;

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
    fn a_server_begins_with_its_settings() {
        assert!(starts_as_server(&h2(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])));
        assert!(!starts_as_server(&h2(SETTINGS, 0, 1, &[])));
        assert!(!starts_as_server(&h2(SETTINGS, 0, 0, &[0, 3, 0])));
        assert!(!starts_as_server(b"HTTP/1.1 400 Bad Request\r\n"));
    }
}

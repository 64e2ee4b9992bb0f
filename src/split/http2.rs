//! HTTP/2 frames as they go over the wire, read in one place for everyone who reads them: the
//! cutting of frames (`frames`), the oracles that read a server's answers (its view, its
//! GOAWAY), a conversation's frame waits, and capture, which names a recorded HTTP/2
//! connection by its first request and writes its waits as frames. A frame is a 9-byte header (24-bit payload length, 8-bit
//! type, 8-bit flags, a reserved bit and a 31-bit stream id), then its payload.

/// The HTTP/2 client connection preface.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of a frame header.
pub(crate) const HEADER_LEN: usize = 9;

/// Frame types.
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const CONTINUATION: u8 = 0x9;

/// Flags: END_STREAM (DATA, HEADERS), ACK (SETTINGS, PING), END_HEADERS (HEADERS,
/// CONTINUATION), PADDED (DATA, HEADERS, PUSH_PROMISE), PRIORITY (HEADERS).
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY: u8 = 0x20;

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

/// One whole frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: &'a [u8],
}

/// The frame whose header begins `bytes`, when its header and payload are all there.
fn frame_at(bytes: &[u8]) -> Option<Frame<'_>> {
    let h = header(bytes)?;
    Some(Frame {
        kind: h.kind,
        flags: h.flags,
        stream: h.stream,
        payload: bytes.get(HEADER_LEN..HEADER_LEN.checked_add(h.len)?)?,
    })
}

/// The whole frames of `bytes` from its start, and the offset where they end (where a
/// frame cut off begins, or the length of `bytes`).
pub(crate) fn frames(bytes: &[u8]) -> (Vec<Frame<'_>>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(frame) = frame_at(&bytes[at..]) {
        at += HEADER_LEN + frame.payload.len();
        out.push(frame);
    }
    (out, at)
}

/// True when `answer` begins as an HTTP/2 server's does: a SETTINGS frame on stream 0 (its
/// header at least), whole settings of 6 bytes, no larger than a frame may be.
pub(crate) fn begins(answer: &[u8]) -> bool {
    header(answer).is_some_and(|h| {
        h.kind == SETTINGS && h.stream == 0 && !h.reserved && h.len % 6 == 0 && h.len <= MAX_FRAME
    })
}

/// A frame's payload without its padding (when flagged PADDED) and `skip` bytes after the
/// pad length (a HEADERS frame's priority fields); empty when the lengths do not fit.
pub(crate) fn unpadded(frame: Frame<'_>, skip: usize) -> &[u8] {
    let payload = frame.payload;
    let (start, pad) = if frame.flags & PADDED != 0 {
        match payload.first() {
            Some(&pad) => (1, usize::from(pad)),
            None => return &[],
        }
    } else {
        (0, 0)
    };
    let end = payload.len().saturating_sub(pad);
    payload.get(start + skip..end).unwrap_or_default()
}

/// The header blocks a client sent in `bytes` (its preface, if any, skipped): each HEADERS
/// frame's fragment joined with its CONTINUATION frames', padding and priority taken off,
/// in the order they were sent. A block cut off at the end is left out.
pub(crate) fn header_blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let bytes = bytes.strip_prefix(PREFACE).unwrap_or(bytes);
    let mut blocks = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for frame in frames(bytes).0 {
        let fragment = match frame.kind {
            HEADERS => {
                let skip = if frame.flags & PRIORITY != 0 { 5 } else { 0 };
                unpadded(frame, skip)
            }
            CONTINUATION if open.is_some() => frame.payload,
            _ => {
                open = None;
                continue;
            }
        };
        let block = open.get_or_insert_with(Vec::new);
        block.extend_from_slice(fragment);
        if frame.flags & END_HEADERS != 0 {
            blocks.extend(open.take());
        }
    }
    blocks
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
        assert_eq!(frames(&bytes).0.len(), 2);
        let (cut, end) = frames(&bytes[..bytes.len() - 1]);
        assert_eq!((cut.len(), end), (1, 9));
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
        // Padding longer than the payload leaves an empty block.
        assert_eq!(
            header_blocks(&h2(HEADERS, END_HEADERS | PADDED, 1, &[9, 1])),
            [Vec::<u8>::new()]
        );
    }

    #[test]
    fn a_server_begins_with_its_settings() {
        assert!(begins(&h2(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])));
        assert!(!begins(&h2(SETTINGS, 0, 1, &[])));
        assert!(!begins(&h2(SETTINGS, 0, 0x8000_0000, &[])));
        assert!(!begins(&h2(SETTINGS, 0, 0, &[0, 3, 0])));
        assert!(!begins(b"HTTP/1.1 400 Bad Request\r\n"));
    }
}

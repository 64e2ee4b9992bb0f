//! WebSocket frame headers as they go over the wire, read in one place: the cutting of frames
//! (`frames`) and the oracles that read a server's messages; and the header lines of the
//! HTTP heads that upgrade to it (the oracles' `101`, client mode's accept value). A header is two bytes (FIN, three
//! reserved bits, the opcode; the mask bit and a 7-bit length), then a 16- or 64-bit length
//! when the 7 bits say 126 or 127, then a 4-byte mask key when the mask bit is set.

/// A frame header, as its bytes say; any values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// The three reserved bits (RSV1-3), in place.
    pub(crate) reserved: u8,
    pub(crate) opcode: u8,
    pub(crate) masked: bool,
    /// The header's length, its mask key with it.
    pub(crate) len: usize,
    /// The payload's length.
    pub(crate) payload: usize,
}

/// The frame header at the start of `bytes`, when its length bytes are there (its mask key
/// need not be yet).
pub(crate) fn header(bytes: &[u8]) -> Option<Header> {
    let (&b0, &b1) = (bytes.first()?, bytes.get(1)?);
    let (extended, payload) = match b1 & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
        ),
        127 => (8, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
        short => (0, u64::from(short)),
    };
    let masked = b1 & 0x80 != 0;
    Some(Header {
        fin: b0 & 0x80 != 0,
        reserved: b0 & 0x70,
        opcode: b0 & 0x0f,
        masked,
        len: 2 + extended + if masked { 4 } else { 0 },
        payload: usize::try_from(payload).ok()?,
    })
}

/// Where the values of the header lines named `name` (any case) of an HTTP head `bytes` lie,
/// in order, spaces around each left out. Lines end with `\n`, a `\r` before it dropped.
pub(crate) fn header_values<'a>(
    bytes: &'a [u8],
    name: &'a [u8],
) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
    let mut start = 0;
    bytes.split(|&b| b == b'\n').filter_map(move |line| {
        let line_start = start;
        start += line.len() + 1;
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = text.iter().position(|&b| b == b':')?;
        if !text[..colon].trim_ascii().eq_ignore_ascii_case(name) {
            return None;
        }
        let raw = &text[colon + 1..];
        let lead = raw.len() - raw.trim_ascii_start().len();
        let value_start = line_start + colon + 1 + lead;
        Some(value_start..value_start + raw.trim_ascii().len())
    })
}

//! WebSocket frame headers as they go over the wire, read in one place: the cutting of frames
//! (`frames`) and the oracles that read a server's messages. A header is two bytes (FIN, three
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

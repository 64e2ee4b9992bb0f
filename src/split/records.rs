//! Where records begin in a blob, to cut a few bytes into each: a server that handles the
//! first record of a read well may still break when a read ends inside a later record's
//! command word, header or length prefix. General, with no protocol named: records start
//! after each line end (`\n`) and NUL byte; and where the whole blob reads as a chain of
//! length-prefixed records (a 1-, 2- or 4-byte length, big- or little-endian, before each
//! payload), at each prefix.

/// Only the first bytes of a blob are searched, and only so many starts are kept.
const SCAN: usize = 64 * 1024;
const MAX_STARTS: usize = 1024;

/// The offsets where records begin (0 first), ascending.
pub(crate) fn record_starts(bytes: &[u8]) -> Vec<usize> {
    if let Some(starts) = length_prefixed(bytes) {
        return starts;
    }
    let mut starts = vec![0];
    for (i, &b) in bytes.iter().enumerate().take(SCAN) {
        if starts.len() >= MAX_STARTS {
            break;
        }
        if (b == b'\n' || b == 0) && i + 1 < bytes.len() {
            starts.push(i + 1);
        }
    }
    starts.dedup();
    starts
}

/// The record starts when the whole blob is two or more length-prefixed records, each
/// prefix the length of the payload after it.
fn length_prefixed(bytes: &[u8]) -> Option<Vec<usize>> {
    const LAYOUTS: [(usize, bool); 5] = [(4, true), (4, false), (2, true), (2, false), (1, true)];
    LAYOUTS.iter().find_map(|&(width, big_endian)| {
        let mut starts = Vec::new();
        let mut at = 0;
        while at < bytes.len() && starts.len() < MAX_STARTS {
            let prefix = bytes.get(at..at + width)?;
            let len = prefix
                .iter()
                .fold(0usize, |n, &b| (n << 8) | usize::from(b));
            let len = if big_endian {
                len
            } else {
                prefix
                    .iter()
                    .rev()
                    .fold(0usize, |n, &b| (n << 8) | usize::from(b))
            };
            starts.push(at);
            at = at.checked_add(width)?.checked_add(len)?;
        }
        (at == bytes.len() && starts.len() >= 2).then_some(starts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_nul_terminated_records_begin_after_their_terminators() {
        assert_eq!(record_starts(b"SET k v\r\nGET k\r\nQUIT\r\n"), [0, 9, 16]);
        assert_eq!(record_starts(b"a\0bc\0"), [0, 2]);
        assert_eq!(record_starts(b"no terminator"), [0]);
    }

    #[test]
    fn a_chain_of_length_prefixed_records_is_recognised() {
        // Two records of a 2-byte big-endian length and a payload.
        let blob = [0, 3, b'a', b'b', b'c', 0, 1, b'z'];
        assert_eq!(record_starts(&blob), [0, 5]);
        // 4-byte little-endian.
        let blob = [2, 0, 0, 0, b'h', b'i', 1, 0, 0, 0, b'!'];
        assert_eq!(record_starts(&blob), [0, 6]);
        // Text that happens not to chain falls back to line ends.
        assert_eq!(record_starts(b"PING\nPONG\n"), [0, 5]);
    }
}

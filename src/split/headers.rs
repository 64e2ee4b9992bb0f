//! Cuts inside frame headers ([`SplitMode::FrameHeaders`]): a server's frame parser breaks
//! where a read ends inside a header, and some only when several reads end inside one (a
//! parser that counts each read as one more frame). Any frame of the blob is cut, not only
//! the first, with one cut or up to one after each byte of its header.
//!
//! [`SplitMode::FrameHeaders`]: super::SplitMode::FrameHeaders

use rand::{Rng, RngExt};

use super::frames::Frame;

/// Cuts (ascending) of a `len`-byte blob inside one of `headers` (drawn evenly): half the
/// time one cut, else from two cuts to one after each byte of the header (its end counted),
/// and with even odds at the header's start too. `None` when no header has a byte to cut
/// after.
pub(super) fn into_header(len: usize, headers: &[Frame], rng: &mut impl Rng) -> Option<Vec<usize>> {
    if headers.is_empty() {
        return None;
    }
    let header = headers[rng.random_range(0..headers.len())];
    let mut places: Vec<usize> = (header.at + 1..=header.at + header.header)
        .filter(|&p| p < len)
        .collect();
    if places.is_empty() {
        return None;
    }
    let count = if places.len() > 1 && rng.random_bool(0.5) {
        rng.random_range(2..=places.len())
    } else {
        1
    };
    // The first `count` of a partial shuffle.
    for i in 0..count {
        let j = rng.random_range(i..places.len());
        places.swap(i, j);
    }
    let mut cuts = places[..count].to_vec();
    if header.at > 0 && rng.random_bool(0.5) {
        cuts.push(header.at);
    }
    cuts.sort_unstable();
    Some(cuts)
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashSet;

    use super::into_header;
    use crate::rng::Seed;
    use crate::split::frames::PREFACE;
    use crate::split::frames::tests::{h2, ws_text};
    use crate::split::records::Shape;

    /// Preface, SETTINGS, WINDOW_UPDATE, HEADERS and two CONTINUATION frames, PING.
    pub(in crate::split) fn h2_blob() -> Vec<u8> {
        let mut blob = PREFACE.to_vec();
        blob.extend(h2(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]));
        blob.extend(h2(8, 0, 0, &[0, 0xef, 0, 1]));
        blob.extend(h2(1, 1, 1, b"\x82\x86"));
        blob.extend(h2(9, 0, 1, b"\x84\x41\x09localhost"));
        blob.extend(h2(9, 4, 1, b"\x53\x03*/*"));
        blob.extend(h2(6, 0, 0, b"12345678"));
        blob
    }

    /// Per draw, per header of `blob`, the offsets into the header that the cuts fall at.
    fn cuts_in_headers(blob: &[u8], draws: u64) -> Vec<Vec<Vec<usize>>> {
        let headers = Shape::plain(blob).headers();
        (0..draws)
            .map(|it| {
                let mut rng = Seed::new(5).case_rng("h2", it);
                let cuts = into_header(blob.len(), &headers, &mut rng).unwrap();
                assert!(cuts.windows(2).all(|w| w[0] < w[1]), "{cuts:?}");
                headers
                    .iter()
                    .map(|h| {
                        let inside = h.at + 1..=h.at + h.header;
                        let offsets = cuts.iter().filter(|c| inside.contains(c));
                        offsets.map(|c| c - h.at).collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn http2_headers_are_cut_at_every_offset_and_many_times_in_one() {
        let blob = h2_blob();
        let draws = cuts_in_headers(&blob, 2000);
        let frames = draws[0].len();
        assert_eq!(frames, 6);
        for frame in 0..frames {
            let offsets: HashSet<usize> = draws
                .iter()
                .flat_map(|d| d[frame].iter().copied())
                .collect();
            assert_eq!(offsets, (1..=9).collect(), "frame {frame}");
            let most = draws.iter().map(|d| d[frame].len()).max().unwrap();
            assert_eq!(most, 9, "frame {frame}: one cut after each byte at most");
        }
        let many = draws
            .iter()
            .filter(|d| d.iter().any(|h| h.len() >= 7))
            .count();
        assert!(many >= 200, "{many} of 2000 with seven cuts in one header");
    }

    #[test]
    fn websocket_headers_are_cut_inside_their_extended_length() {
        let mut blob = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec();
        blob.extend(ws_text(b"hello"));
        blob.extend(ws_text(&[b'x'; 300]));
        let draws = cuts_in_headers(&blob, 500);
        let offsets: HashSet<usize> = draws.iter().flat_map(|d| d[1].iter().copied()).collect();
        assert_eq!(offsets, (1..=8).collect(), "2 + 2 + 4 header bytes");
    }
}

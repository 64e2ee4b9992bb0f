//! Drawing split patterns from a case's random stream.
//!
//! The order of draws is part of the reproducibility contract: changing it changes every
//! pattern a seed produces, so it is only ever extended, never reordered. Per case: the
//! mode (under [`SplitMode::Mixed`]), then the mode's own draws, then the close-chance rolls.

use rand::{Rng, RngExt};

use super::Splits;
use super::records::Shape;

/// How split patterns are drawn.
///
/// The original tool's distribution (each chunk uniform in `1..=len`) averages under three
/// chunks per blob and almost never starts with a 1-byte chunk, which is what many real bugs
/// need; the other modes aim at such boundaries. [`Mixed`](Self::Mixed), the default, draws
/// one mode per case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SplitMode {
    /// The original tool's: each chunk uniform in `1..=len`, cut to what remains.
    Original,
    /// Two chunks, `[1, n-1]` or `[n-1, 1]`.
    HeadTail,
    /// One byte at a time (the first 64 bytes of a longer blob, then the rest at once).
    Bytewise,
    /// One cut: for blobs up to 64 bytes, delivery `i` cuts at position `1 + i % (n-1)`, so
    /// every position is tried in turn; for longer blobs, a random position.
    EveryCut,
    /// Cuts at protocol delimiters: just before, inside and after `\r\n`, around `\n` and
    /// NUL bytes.
    Delimiters,
    /// A cut inside the first 8 bytes (where length prefixes and headers live), the rest
    /// whole or split as the original.
    Prefix,
    /// A cut a few bytes (1 to 8) into a record of the blob, any record, not only the first:
    /// records are the frames of HTTP/2, WebSocket and TLS, or the length-prefixed records of
    /// a blob made of them, else they begin after line ends and NUL bytes; with even odds
    /// the record's start is a cut too.
    RecordStarts,
    /// Cuts inside one frame header of a framed protocol (HTTP/2 and WebSocket frames, TLS
    /// records, length-prefixed records), any frame of the blob: one cut, or several (up to
    /// one after each byte of the header), and with even odds at the header's start too. A
    /// blob with no frames is cut as [`RecordStarts`](Self::RecordStarts) cuts.
    FrameHeaders,
    /// One of the above per case: the default.
    #[default]
    Mixed,
}

/// How many leading bytes [`SplitMode::Bytewise`] sends one at a time.
const BYTEWISE_PREFIX: usize = 64;

/// The modes `Mixed` draws from, with their weights; the last, cuts inside frame headers,
/// only for a blob with frames.
const MIX: [(SplitMode, u32); 8] = [
    (SplitMode::Original, 4),
    (SplitMode::HeadTail, 2),
    (SplitMode::Bytewise, 1),
    (SplitMode::EveryCut, 2),
    (SplitMode::Delimiters, 2),
    (SplitMode::Prefix, 2),
    (SplitMode::RecordStarts, 2),
    (SplitMode::FrameHeaders, 4),
];

/// How far into a record [`SplitMode::RecordStarts`] cuts, at most.
pub(crate) const INTO_RECORD: usize = 8;

/// Draws the pattern of delivery `iteration` of a blob: the mode's chunks, then cut short
/// before any chunk with chance 1/`close_chance` (never when 0).
pub(crate) fn generate(
    mode: SplitMode,
    shape: Shape<'_>,
    iteration: u64,
    close_chance: u32,
    rng: &mut impl Rng,
) -> Splits {
    let bytes = shape.bytes;
    let len = bytes.len();
    let headers = match mode {
        SplitMode::Mixed | SplitMode::FrameHeaders if len > 1 => shape.headers(),
        _ => Vec::new(),
    };
    let mode = match mode {
        SplitMode::Mixed if headers.is_empty() => pick(&MIX[..MIX.len() - 1], rng),
        SplitMode::Mixed => pick(&MIX, rng),
        other => other,
    };
    let chunks = if len <= 1 {
        Splits::whole(len).chunks().to_vec()
    } else {
        match mode {
            SplitMode::Original | SplitMode::Mixed => original(len, rng),
            SplitMode::HeadTail => {
                if rng.random_bool(0.5) {
                    vec![1, len - 1]
                } else {
                    vec![len - 1, 1]
                }
            }
            SplitMode::Bytewise => {
                let ones = len.min(BYTEWISE_PREFIX);
                let mut chunks = vec![1; ones];
                if len > ones {
                    chunks.push(len - ones);
                }
                chunks
            }
            SplitMode::EveryCut => {
                let cut = if len <= 64 {
                    1 + (iteration % (len as u64 - 1)) as usize
                } else {
                    rng.random_range(1..len)
                };
                vec![cut, len - cut]
            }
            SplitMode::Delimiters => delimiters(bytes, rng),
            SplitMode::RecordStarts => into_record(shape, rng),
            SplitMode::FrameHeaders => match super::headers::into_header(len, &headers, rng) {
                Some(cuts) => chunks_between(&cuts, len),
                None => into_record(shape, rng),
            },
            SplitMode::Prefix => {
                let cut = rng.random_range(1..=len.min(9) - 1);
                let mut chunks = vec![cut];
                if rng.random_bool(0.5) {
                    chunks.push(len - cut);
                } else {
                    chunks.extend(original(len - cut, rng));
                }
                chunks
            }
        }
    };
    let mut chunks = chunks;
    if close_chance > 0
        && let Some(at) = (0..chunks.len()).find(|_| rng.random_ratio(1, close_chance))
    {
        chunks.truncate(at);
    }
    Splits::new(chunks).unwrap_or_default()
}

fn pick(mix: &[(SplitMode, u32)], rng: &mut impl Rng) -> SplitMode {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for &(mode, weight) in mix {
        if roll < weight {
            return mode;
        }
        roll -= weight;
    }
    SplitMode::Original
}

/// The original tool's chunks for `len` bytes.
fn original(len: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut chunks = Vec::new();
    let mut sent = 0;
    while sent < len {
        let chunk = rng.random_range(1..=len).min(len - sent);
        chunks.push(chunk);
        sent += chunk;
    }
    chunks
}

/// Chunks cut `k` bytes (1 to [`INTO_RECORD`]) into a random record, and with even odds at
/// that record's start too.
fn into_record(shape: Shape<'_>, rng: &mut impl Rng) -> Vec<usize> {
    let len = shape.bytes.len();
    let starts = shape.record_starts();
    let i = rng.random_range(0..starts.len());
    let start = starts[i];
    let end = starts.get(i + 1).copied().unwrap_or(len);
    let room = (end - start).clamp(2, INTO_RECORD + 1);
    let cut = (start + rng.random_range(1..room)).min(len - 1);
    let mut cuts = vec![cut];
    if start > 0 && start < cut && rng.random_bool(0.5) {
        cuts.insert(0, start);
    }
    chunks_between(&cuts, len)
}

/// An offset 1 to [`INTO_RECORD`] bytes into a random record of at least two bytes, before
/// `limit`: where a pause leaves the server holding part of a message. `None` when there is
/// no such place.
pub(crate) fn mid_record(shape: Shape<'_>, limit: usize, rng: &mut impl Rng) -> Option<usize> {
    let bytes = shape.bytes;
    let limit = limit.min(bytes.len());
    let starts = shape.record_starts();
    let inside: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| (start, starts.get(i + 1).copied().unwrap_or(bytes.len())))
        .filter(|&(start, end)| end - start >= 2 && start + 1 < limit)
        .collect();
    let &(start, end) = inside.get(rng.random_range(0..inside.len().max(1)))?;
    let room = (end - start).min(INTO_RECORD + 1).min(limit - start);
    Some(start + rng.random_range(1..room))
}

/// The chunks of a `len`-byte blob cut at `cuts` (ascending, inside the blob).
fn chunks_between(cuts: &[usize], len: usize) -> Vec<usize> {
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut last = 0;
    for &cut in cuts {
        chunks.push(cut - last);
        last = cut;
    }
    chunks.push(len - last);
    chunks
}

/// Only the first bytes of a blob are searched for delimiters, and only so many cut
/// positions are kept: a 100 MB blob of NUL bytes must not make a 100 MB list.
const DELIMITER_SCAN: usize = 64 * 1024;
const MAX_DELIMITER_CUTS: usize = 1024;

/// Chunks cut at a random, non-empty subset of the positions around delimiters; the
/// original's chunks when there is no delimiter.
fn delimiters(bytes: &[u8], rng: &mut impl Rng) -> Vec<usize> {
    let len = bytes.len();
    let mut cuts = Vec::new();
    for (i, &b) in bytes.iter().enumerate().take(DELIMITER_SCAN) {
        if cuts.len() >= MAX_DELIMITER_CUTS {
            break;
        }
        if b == b'\n' || b == 0 {
            cuts.extend([i, i + 1]);
        }
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            cuts.push(i);
        }
    }
    cuts.retain(|&c| c > 0 && c < len);
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.is_empty() {
        return original(len, rng);
    }
    let mut chosen: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|_| rng.random_bool(0.5))
        .collect();
    if chosen.is_empty() {
        chosen.push(cuts[rng.random_range(0..cuts.len())]);
    }
    chunks_between(&chosen, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seed;

    #[test]
    fn pauses_fall_a_few_bytes_into_a_record_before_the_limit() {
        let bytes = b"SET k v\nGET k\nQUIT\n";
        let mut rng = Seed::new(3).case_rng("b", 0);
        let starts = [0, 8, 14];
        for _ in 0..200 {
            let at = mid_record(Shape::plain(bytes), bytes.len(), &mut rng).unwrap();
            let start = starts.iter().rev().find(|&&s| s < at).copied().unwrap();
            assert!(at - start <= INTO_RECORD && !starts.contains(&at), "{at}");
        }
        for _ in 0..50 {
            assert!(mid_record(Shape::plain(bytes), 3, &mut rng).unwrap() < 3);
        }
        assert_eq!(mid_record(Shape::plain(b"x"), 1, &mut rng), None);
        assert_eq!(
            mid_record(Shape::plain(b"\n\n\n"), 3, &mut rng),
            None,
            "no record of two bytes"
        );
        assert_eq!(mid_record(Shape::plain(bytes), 1, &mut rng), None);
    }

    const MODES: [SplitMode; 9] = [
        SplitMode::Original,
        SplitMode::HeadTail,
        SplitMode::Bytewise,
        SplitMode::EveryCut,
        SplitMode::Delimiters,
        SplitMode::Prefix,
        SplitMode::RecordStarts,
        SplitMode::FrameHeaders,
        SplitMode::Mixed,
    ];

    fn draw(mode: SplitMode, bytes: &[u8], iteration: u64, close: u32) -> Splits {
        let mut rng = Seed::new(9).case_rng("blob", iteration);
        generate(mode, Shape::plain(bytes), iteration, close, &mut rng)
    }

    #[test]
    fn without_close_every_mode_covers_the_blob() {
        let blob = b"SET k v\r\nGET k\r\n\0PING\n".repeat(5);
        for mode in MODES {
            for len in [0, 1, 2, 3, 9, blob.len()] {
                for it in 0..50 {
                    let splits = draw(mode, &blob[..len], it, 0);
                    assert_eq!(splits.total(), len, "{mode:?} {len} {splits}");
                }
            }
        }
    }

    #[test]
    fn close_chance_one_sends_nothing_and_others_cut_some_short() {
        assert!(draw(SplitMode::Original, &[b'x'; 100], 0, 1).is_empty());
        let short = (0..400)
            .filter(|&it| draw(SplitMode::Bytewise, &[b'x'; 1000], it, 64).total() < 1000)
            .count();
        assert!((50..400).contains(&short), "{short} of 400 closed early");
    }

    #[test]
    fn each_mode_has_its_shape() {
        let blob = b"PING\r\nECHO hi\r\n";
        let head_tail = draw(SplitMode::HeadTail, blob, 0, 0);
        assert!(
            head_tail.chunks() == [1, 14] || head_tail.chunks() == [14, 1],
            "{head_tail}"
        );
        assert_eq!(draw(SplitMode::Bytewise, blob, 0, 0).chunks(), &[1; 15]);
        let cuts: Vec<usize> = (0..14)
            .map(|it| draw(SplitMode::EveryCut, blob, it, 0).chunks()[0])
            .collect();
        assert_eq!(
            cuts,
            (1..15).collect::<Vec<_>>(),
            "every cut position in turn"
        );
        for it in 0..30 {
            let splits = draw(SplitMode::Delimiters, blob, it, 0);
            for boundary in splits.boundaries() {
                assert!([4, 5, 6, 13, 14].contains(&boundary), "{splits}");
            }
            let prefix = draw(SplitMode::Prefix, blob, it, 0);
            assert!((1..=8).contains(&prefix.chunks()[0]), "{prefix}");
        }
        let long = vec![b'a'; 1000];
        let bytewise = draw(SplitMode::Bytewise, &long, 0, 0);
        assert_eq!(bytewise.len(), BYTEWISE_PREFIX + 1);
    }

    #[test]
    fn record_starts_cut_a_few_bytes_into_every_record() {
        let blob = b"SET counter 1\nGET counter\nDEL counter\nGET counter\n";
        let starts = [0usize, 14, 26, 38];
        let mut seen = std::collections::HashSet::new();
        for iteration in 0..400 {
            let splits = draw(SplitMode::RecordStarts, blob, iteration, 0);
            assert_eq!(splits.total(), blob.len());
            let mut at = 0;
            for chunk in &splits.chunks()[..splits.len() - 1] {
                at += chunk;
                if starts.contains(&at) {
                    continue; // the record's own start
                }
                let (record, start) = starts
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, s)| **s < at)
                    .map(|(i, s)| (i, *s))
                    .unwrap();
                let k = at - start;
                assert!((1..=8).contains(&k), "{splits} cuts {k} bytes in");
                seen.insert((record, k));
            }
        }
        assert!(
            (0..4).all(|record| (1..=8).all(|k| seen.contains(&(record, k)))),
            "every (record, offset) is cut: {seen:?}"
        );
    }

    #[test]
    fn the_default_mix_cuts_deep_inside_headers_of_a_framed_blob() {
        let blob = crate::split::headers::tests::h2_blob();
        let headers = Shape::plain(&blob).headers();
        // Past Bytewise's first 64 bytes: the first CONTINUATION frame and those after it.
        let deep = (0..2000)
            .filter(|&it| {
                let cuts: Vec<usize> = draw(SplitMode::Mixed, &blob, it, 0).boundaries().collect();
                headers[3..].iter().any(|h| {
                    let inside = h.at + 1..=h.at + h.header;
                    cuts.iter().filter(|c| inside.contains(c)).count() >= 7
                })
            })
            .count();
        assert!(
            deep >= 20,
            "{deep} of 2000 with seven cuts in a deep header"
        );
    }

    #[test]
    fn the_default_mix_starts_with_one_byte_often() {
        let blob = b"SET session:42 alice\r\nGET session:42\r\n";
        let one_byte_first = (0..200)
            .filter(|&it| draw(SplitMode::Mixed, blob, it, 0).chunks().first() == Some(&1))
            .count();
        assert!(one_byte_first >= 20, "{one_byte_first} of 200");
        // The original's distribution alone almost never does.
        let original = (0..200)
            .filter(|&it| draw(SplitMode::Original, blob, it, 0).chunks().first() == Some(&1))
            .count();
        assert!(original < one_byte_first, "{original} vs {one_byte_first}");
    }
}

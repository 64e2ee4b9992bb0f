//! Which offsets of each blob have been a chunk boundary on the wire, and among them the
//! positions a few bytes into each record (where [`SplitMode::RecordStarts`] cuts).
//!
//! [`SplitMode::RecordStarts`]: super::SplitMode::RecordStarts

use std::collections::HashMap;

use super::Splits;

/// Per blob, a bit per offset `1..len`: set once a delivery had a boundary there.
#[derive(Debug, Default, Clone)]
pub(crate) struct Coverage {
    blobs: HashMap<String, Bits>,
    possible: u64,
    covered: u64,
    /// Per blob, the offsets 1 to 8 bytes into each of its records.
    into_records: HashMap<String, Vec<usize>>,
}

#[derive(Debug, Clone)]
struct Bits {
    words: Vec<u64>,
}

impl Coverage {
    /// Coverage of these blobs (name, length), none covered yet.
    pub(crate) fn new<'a>(blobs: impl IntoIterator<Item = (&'a str, usize)>) -> Self {
        let mut coverage = Coverage::default();
        for (name, len) in blobs {
            let offsets = len.saturating_sub(1);
            coverage.possible += offsets as u64;
            coverage.blobs.insert(
                name.to_owned(),
                Bits {
                    words: vec![0; offsets.div_ceil(64)],
                },
            );
        }
        coverage
    }

    /// Notes where `blob`'s records begin (its frames, for a framed protocol), to count the
    /// boundaries a few bytes into each.
    pub(crate) fn watch_records(&mut self, blob: &str, shape: super::Shape<'_>) {
        let bytes = shape.bytes;
        let starts = shape.record_starts();
        let mut positions = Vec::new();
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
            positions.extend((start + 1..=start + super::INTO_RECORD).filter(|&p| p < end));
        }
        self.into_records.insert(blob.to_owned(), positions);
    }

    /// The share of the positions 1 to 8 bytes into a record that have been a boundary, and
    /// how many there are.
    pub(crate) fn records_share(&self) -> (f64, usize) {
        let (mut possible, mut covered) = (0usize, 0usize);
        for (blob, positions) in &self.into_records {
            let Some(bits) = self.blobs.get(blob) else {
                continue;
            };
            possible += positions.len();
            covered += positions
                .iter()
                .filter(|&&p| {
                    let i = p - 1;
                    bits.words
                        .get(i / 64)
                        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
                })
                .count();
        }
        let share = if possible == 0 {
            1.0
        } else {
            covered as f64 / possible as f64
        };
        (share, possible)
    }

    /// Records the boundaries of the first `chunks_sent` chunks of `splits`.
    pub(crate) fn record(&mut self, blob: &str, splits: &Splits, chunks_sent: usize) {
        let Some(bits) = self.blobs.get_mut(blob) else {
            return;
        };
        for offset in splits.boundaries().take(chunks_sent.saturating_sub(1)) {
            let i = offset - 1;
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if let Some(w) = bits.words.get_mut(word)
                && *w & bit == 0
            {
                *w |= bit;
                self.covered += 1;
            }
        }
    }

    /// The share of all possible boundary offsets seen so far (1.0 when there is none).
    pub(crate) fn share(&self) -> f64 {
        if self.possible == 0 {
            1.0
        } else {
            self.covered as f64 / self.possible as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::Shape;

    #[test]
    fn counts_each_offset_once() {
        let mut coverage = Coverage::new([("a", 5), ("b", 1)]);
        assert_eq!(coverage.share(), 0.0);
        let splits: Splits = "1,2,2".parse().unwrap();
        coverage.record("a", &splits, 3);
        assert_eq!(coverage.share(), 0.5);
        coverage.record("a", &splits, 3);
        assert_eq!(
            coverage.share(),
            0.5,
            "the same boundaries again add nothing"
        );
        // Only boundaries between chunks that were sent count.
        coverage.record("a", &"4,1".parse().unwrap(), 1);
        assert_eq!(coverage.share(), 0.5);
        coverage.record("a", &"2,1,1,1".parse().unwrap(), 4);
        assert_eq!(coverage.share(), 1.0);
        assert_eq!(Coverage::new([("x", 1)]).share(), 1.0);
    }

    #[test]
    fn boundaries_a_few_bytes_into_records_are_counted_apart() {
        let bytes = b"PING\nECHO hello\n";
        let mut c = Coverage::new([("b", bytes.len())]);
        c.watch_records("b", Shape::plain(bytes));
        // Record 0 has positions 1..=4, record 1 (from 5) has 6..=13: twelve in all.
        assert_eq!(c.records_share(), (0.0, 12));
        c.record("b", &"7,9".parse().unwrap(), 2);
        let (share, positions) = c.records_share();
        assert_eq!(positions, 12);
        assert!((share - 1.0 / 12.0).abs() < 1e-9, "{share}");
    }

    #[test]
    fn the_records_of_an_http2_blob_are_its_preface_and_frames() {
        let bytes = include_bytes!("../../fixtures/h2/get.bin");
        let mut c = Coverage::new([("get", bytes.len())]);
        c.watch_records("get", Shape::plain(bytes));
        // The preface and six frames, 8 positions after each start: each frame's header.
        assert_eq!(c.records_share(), (0.0, 7 * 8));
        c.record("get", &"25,1,1,1,1,1,1,1,132".parse().unwrap(), 9);
        let (share, _) = c.records_share();
        assert!((share - 8.0 / 56.0).abs() < 1e-9, "{share}");
        // Before frames were known, its NUL bytes made records of their own, most of them a
        // byte or two long.
        let before = Shape {
            frames: false,
            ..Shape::plain(bytes)
        };
        let starts = before.record_starts();
        assert!(starts.len() > 30, "{starts:?}");
    }
}

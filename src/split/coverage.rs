//! Which offsets of each blob have been a chunk boundary on the wire.

use std::collections::HashMap;

use super::Splits;

/// Per blob, a bit per offset `1..len`: set once a delivery had a boundary there.
#[derive(Debug, Default)]
pub(crate) struct Coverage {
    blobs: HashMap<String, Bits>,
    possible: u64,
    covered: u64,
}

#[derive(Debug)]
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
}

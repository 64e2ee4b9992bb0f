//! Drawing split patterns from a case's random stream.
//!
//! The order of draws is part of the reproducibility contract: changing it changes every
//! pattern a seed produces, so it is only ever extended, never reordered.

use rand::{Rng, RngExt};

use super::Splits;

/// The original tool's distribution: before each chunk, the connection is closed early with
/// chance 1/`close_chance` (never when it is 0); otherwise the chunk's length is uniform in
/// `1..=len`, cut down to what remains of the blob.
pub(crate) fn original(len: usize, close_chance: u32, rng: &mut impl Rng) -> Splits {
    let mut chunks = Vec::new();
    let mut sent = 0;
    while sent < len {
        if close_chance > 0 && rng.random_ratio(1, close_chance) {
            break;
        }
        let chunk = rng.random_range(1..=len).min(len - sent);
        chunks.push(chunk);
        sent += chunk;
    }
    Splits::new(chunks).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seed;

    #[test]
    fn without_close_the_chunks_cover_the_blob() {
        for iteration in 0..200 {
            let mut rng = Seed::new(9).case_rng("blob", iteration);
            let len = 1 + iteration as usize % 50;
            let splits = original(len, 0, &mut rng);
            assert_eq!(splits.total(), len);
            assert!(splits.chunks().iter().all(|&c| (1..=len).contains(&c)));
        }
    }

    #[test]
    fn close_chance_one_sends_nothing() {
        let mut rng = Seed::new(9).case_rng("blob", 0);
        assert!(original(100, 1, &mut rng).is_empty());
    }

    #[test]
    fn close_chance_cuts_some_deliveries_short() {
        let short = (0..400)
            .filter(|&it| {
                let mut rng = Seed::new(3).case_rng("blob", it);
                original(1000, 4, &mut rng).total() < 1000
            })
            .count();
        assert!((50..400).contains(&short), "{short} of 400 closed early");
    }

    #[test]
    fn an_empty_blob_has_no_chunks() {
        let mut rng = Seed::new(1).case_rng("empty", 0);
        assert!(original(0, 500, &mut rng).is_empty());
    }
}

//! The proptest strategy for split patterns.

use proptest::collection::btree_set;
use proptest::prelude::*;

use super::Splits;

/// At most this many cuts (so at most one more chunk) in a generated pattern.
const MAX_CUTS: usize = 16;

/// Split patterns of a `len`-byte blob for proptest: chunk sizes that add up to `len`.
///
/// A pattern is drawn as a set of cut positions, so shrinking removes cuts first, toward
/// *fewer* chunks (and the whole blob in one chunk), not toward 1-byte chunks; then it moves
/// the remaining cuts toward the start.
///
/// ```
/// use proptest::prelude::*;
/// use proptest::strategy::ValueTree;
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let tree = stutterfuzz::split_patterns(23).new_tree(&mut runner).unwrap();
/// let splits = tree.current();
/// assert_eq!(splits.total(), 23);
/// assert!(splits.chunks().iter().all(|&c| c >= 1));
/// ```
pub fn split_patterns(len: usize) -> impl Strategy<Value = Splits> {
    let max_cuts = len.saturating_sub(1).min(MAX_CUTS);
    let positions = if len > 1 { 1..len } else { 0..1 };
    btree_set(positions, 0..=max_cuts).prop_map(move |cuts| {
        let mut chunks = Vec::with_capacity(cuts.len() + 1);
        let mut last = 0;
        for cut in cuts.into_iter().filter(|&c| c > 0 && c < len) {
            chunks.push(cut - last);
            last = cut;
        }
        if len > last {
            chunks.push(len - last);
        }
        Splits::new(chunks).unwrap_or_default()
    })
}

/// The strategy's old name.
#[doc(hidden)]
#[deprecated(since = "0.2.0", note = "renamed `split_patterns`")]
pub fn splits(len: usize) -> impl Strategy<Value = Splits> {
    split_patterns(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    proptest! {
        #[test]
        fn patterns_cover_the_blob(len in 0usize..200, seed in any::<u64>()) {
            let mut runner = TestRunner::new_with_rng(
                proptest::test_runner::Config::default(),
                proptest::test_runner::TestRng::from_seed(
                    proptest::test_runner::RngAlgorithm::ChaCha,
                    &[seed as u8; 32],
                ),
            );
            let splits = split_patterns(len).new_tree(&mut runner).unwrap().current();
            prop_assert_eq!(splits.total(), len);
        }
    }

    #[test]
    fn shrinking_goes_toward_fewer_chunks() {
        let mut runner = TestRunner::deterministic();
        // Fails while the pattern has a boundary at 5: shrinks to just that one cut.
        let result = runner.run(&split_patterns(40), |s| {
            prop_assert!(!s.boundaries().any(|b| b == 5));
            Ok(())
        });
        match result {
            Err(proptest::test_runner::TestError::Fail(_, minimal)) => {
                assert_eq!(minimal.chunks(), &[5, 35]);
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

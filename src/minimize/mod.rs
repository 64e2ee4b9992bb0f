//! Shrinking a failing split pattern to a locally minimal one.
//!
//! A [`Shrinker`] proposes candidates and is told whether each still fails; it never runs
//! anything itself, so the search is deterministic and tested without sockets, and the
//! caller decides how a candidate is tried (on real sockets: several times, within a time
//! and attempt budget).
//!
//! Order: fewer chunks first (keep the first chunks and send the rest at once; merge two
//! neighbours, which drops one cut), then each remaining boundary slid toward the start of
//! the blob as far as it still fails (to the first possible offset, halfway, one byte). The
//! result is locally minimal: no merge and no left slide of a single boundary still fails.

use std::collections::VecDeque;

pub(crate) mod groups;

use crate::split::Splits;

/// A greedy search for a smaller failing pattern.
#[derive(Debug)]
pub(crate) struct Shrinker {
    current: Splits,
    candidates: VecDeque<Splits>,
}

impl Shrinker {
    /// Starts from a pattern known to fail.
    pub(crate) fn new(failing: Splits) -> Self {
        let candidates = candidates(&failing);
        Shrinker {
            current: failing,
            candidates,
        }
    }

    /// The next pattern to try, or `None` when the current one is locally minimal.
    pub(crate) fn next_candidate(&mut self) -> Option<Splits> {
        self.candidates.pop_front()
    }

    /// Reports whether the last candidate still failed: if so, it becomes the current
    /// pattern and the search goes on from it.
    pub(crate) fn report(&mut self, candidate: Splits, failed: bool) {
        if failed {
            self.candidates = candidates(&candidate);
            self.current = candidate;
        }
    }

    /// The smallest failing pattern so far.
    pub(crate) fn current(&self) -> &Splits {
        &self.current
    }
}

/// Every smaller neighbour of `splits`, most promising first: the first `k` chunks kept and
/// the rest sent at once (a bug usually needs only the boundaries before it shows), then two
/// neighbours merged, then each boundary slid left.
fn candidates(splits: &Splits) -> VecDeque<Splits> {
    let chunks = splits.chunks();
    let mut out: VecDeque<Splits> = VecDeque::new();
    let mut push = |candidate: Vec<usize>| {
        if let Some(c) = Splits::new(candidate)
            && &c != splits
            && !out.contains(&c)
        {
            out.push_back(c);
        }
    };
    for k in 1..chunks.len().saturating_sub(1) {
        let mut kept = chunks[..k].to_vec();
        kept.push(chunks[k..].iter().sum());
        push(kept);
    }
    for i in 0..chunks.len().saturating_sub(1) {
        let mut merged = chunks.to_vec();
        let next = merged.remove(i + 1);
        merged[i] += next;
        push(merged);
    }
    let boundaries: Vec<usize> = splits.boundaries().collect();
    for (i, &b) in boundaries.iter().enumerate() {
        let previous = if i == 0 { 0 } else { boundaries[i - 1] };
        for target in [
            previous + 1,
            previous + (b - previous) / 2,
            b.saturating_sub(1),
        ] {
            if target > previous && target < b {
                let mut moved = chunks.to_vec();
                let shift = b - target;
                moved[i] -= shift;
                moved[i + 1] += shift;
                push(moved);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search with `fails` as the oracle; returns the result and how many tries.
    fn shrink(start: &str, fails: impl Fn(&Splits) -> bool) -> (Splits, usize) {
        let start: Splits = start.parse().unwrap();
        assert!(fails(&start));
        let mut shrinker = Shrinker::new(start);
        let mut tries = 0;
        while let Some(candidate) = shrinker.next_candidate() {
            tries += 1;
            let failed = fails(&candidate);
            shrinker.report(candidate, failed);
        }
        (shrinker.current().clone(), tries)
    }

    #[test]
    fn drops_cuts_and_slides_the_needed_one_as_far_as_it_goes() {
        // Fails while some boundary lies in 10..=12.
        let (minimal, _) = shrink("3,4,5,6,7", |s| {
            s.boundaries().any(|b| (10..=12).contains(&b))
        });
        assert_eq!(minimal.chunks(), &[10, 15]);
    }

    #[test]
    fn a_bug_that_needs_one_byte_first_shrinks_to_two_chunks() {
        // Fails when the first chunk is a single byte.
        let (minimal, _) = shrink("1,5,2,9,3", |s| s.chunks().first() == Some(&1));
        assert_eq!(minimal.chunks(), &[1, 19]);
    }

    #[test]
    fn the_result_is_never_longer_and_keeps_the_total() {
        let start: Splits = "2,2,2,2,2,2".parse().unwrap();
        let (minimal, tries) = shrink("2,2,2,2,2,2", |s| s.len() >= 3);
        assert_eq!(minimal.len(), 3);
        assert_eq!(minimal.total(), start.total());
        assert!(tries < 100, "{tries} tries");
    }

    #[test]
    fn a_long_bytewise_pattern_collapses_in_few_tries() {
        let start = format!("{},6", vec!["1"; 64].join(","));
        // Fails when the first chunk is a single byte, as a server that dies on its first read.
        let (minimal, tries) = shrink(&start, |s| s.chunks().first() == Some(&1));
        assert_eq!(minimal.chunks(), &[1, 69]);
        assert!(tries < 10, "{tries} tries");
    }

    #[test]
    fn a_pattern_that_must_stay_whole_is_already_minimal() {
        let (minimal, tries) = shrink("7", |_| true);
        assert_eq!(minimal.chunks(), &[7]);
        assert_eq!(tries, 0);
    }
}

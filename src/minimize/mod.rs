//! Shrinking a failing split pattern to a locally minimal one.
//!
//! A [`Shrinker`] proposes candidates and is told whether each still fails; it never runs
//! anything itself, so the search is deterministic and tested without sockets, and the
//! caller decides how a candidate is tried (on real sockets: several times, within a time
//! and attempt budget).
//!
//! Order: first many cuts dropped at once, in the manner of delta debugging (the cuts split
//! into 2 groups, each group dropped in turn; when none can go, into twice as many smaller
//! groups, down to single cuts), so a pattern of hundreds of chunks loses all cuts the bug
//! does not need in a few dozen tries; then fewer chunks one at a time (keep the first chunks
//! and send the rest at once; merge two neighbours, which drops one cut), then each remaining
//! boundary slid toward the start of the blob as far as it still fails (to the first possible
//! offset, halfway, one byte). The result is locally minimal: no merge and no left slide of a
//! single boundary still fails.
//!
//! Some boundaries are part of the case, not of the search: where a conversation waits for
//! the server, where a pause falls. A shrinker made [`Shrinker::keeping`] them puts them back
//! into every candidate, and proposes only candidates smaller than the current pattern.

use std::collections::VecDeque;

pub(crate) mod groups;

use crate::split::Splits;

/// A search for a smaller failing pattern: groups of cuts dropped, then greedy steps.
#[derive(Debug)]
pub(crate) struct Shrinker {
    current: Splits,
    candidates: VecDeque<Splits>,
    /// Offsets every candidate keeps as boundaries.
    kept: Vec<usize>,
    /// Dropping groups of cuts: the cuts of `current` in `groups` groups, the next to drop.
    /// `None` once no group of any size can go: then the greedy steps.
    dropping: Option<Dropping>,
}

#[derive(Clone, Copy, Debug)]
struct Dropping {
    groups: usize,
    next: usize,
}

/// Fewer cuts than this are left to the greedy steps alone.
const DROP_FROM: usize = 4;

impl Shrinker {
    /// Starts from a pattern known to fail.
    #[cfg(test)]
    pub(crate) fn new(failing: Splits) -> Self {
        Shrinker::keeping(failing, Vec::new())
    }

    /// Starts from a pattern known to fail; every candidate keeps the boundaries at `kept`.
    pub(crate) fn keeping(failing: Splits, kept: Vec<usize>) -> Self {
        let mut shrinker = Shrinker {
            current: failing,
            candidates: VecDeque::new(),
            kept,
            dropping: None,
        };
        shrinker.restart();
        shrinker
    }

    /// Starts the search over from `current`: groups of cuts first, when there are many.
    fn restart(&mut self) {
        self.dropping =
            (self.droppable().len() >= DROP_FROM).then_some(Dropping { groups: 2, next: 0 });
        let mut candidates = self.candidates_of(&self.current);
        if self.dropping.is_some() {
            // A bug that needs only the first cuts shows on the first tries, before the groups.
            candidates.truncate(2);
        }
        self.candidates = candidates;
    }

    /// The cuts of `current` that may be dropped (the kept ones may not).
    fn droppable(&self) -> Vec<usize> {
        self.current
            .boundaries()
            .filter(|b| !self.kept.contains(b))
            .collect()
    }

    /// The next candidate that drops a group of cuts, or `None` when no group of any size is
    /// left to try (the greedy steps take over).
    fn next_drop(&mut self) -> Option<Splits> {
        let cuts = self.droppable();
        while let Some(state) = self.dropping {
            if state.next < state.groups {
                self.dropping = Some(Dropping {
                    next: state.next + 1,
                    ..state
                });
                let size = cuts.len().div_ceil(state.groups);
                let group = &cuts[(state.next * size).min(cuts.len())
                    ..((state.next + 1) * size).min(cuts.len())];
                if group.is_empty() {
                    continue;
                }
                let left: Vec<usize> = self
                    .current
                    .boundaries()
                    .filter(|b| !group.contains(b))
                    .collect();
                return Some(from_boundaries(&left, self.current.total()));
            }
            self.dropping = (state.groups < cuts.len()).then(|| Dropping {
                groups: (state.groups * 2).min(cuts.len()),
                next: 0,
            });
        }
        self.candidates = self.candidates_of(&self.current);
        None
    }

    /// The candidates of `splits`, with the kept boundaries put back, each new.
    fn candidates_of(&self, splits: &Splits) -> VecDeque<Splits> {
        let mut out = VecDeque::new();
        for candidate in candidates(splits) {
            let candidate = self
                .kept
                .iter()
                .filter(|&&at| at > 0 && at < splits.total())
                .fold(candidate, |c, &at| c.with_boundary(at));
            if smaller(&candidate, splits) && !out.contains(&candidate) {
                out.push_back(candidate);
            }
        }
        out
    }

    /// The next pattern to try, or `None` when the current one is locally minimal.
    pub(crate) fn next_candidate(&mut self) -> Option<Splits> {
        if self.dropping.is_some() {
            if let Some(candidate) = self.candidates.pop_front() {
                return Some(candidate);
            }
            if let Some(candidate) = self.next_drop() {
                return Some(candidate);
            }
        }
        self.candidates.pop_front()
    }

    /// Reports whether the last candidate still failed: if so, it becomes the current
    /// pattern and the search goes on from it.
    pub(crate) fn report(&mut self, candidate: Splits, failed: bool) {
        if failed && smaller(&candidate, &self.current) {
            self.current = candidate;
            self.restart();
        }
    }

    /// The smallest failing pattern so far.
    pub(crate) fn current(&self) -> &Splits {
        &self.current
    }
}

/// The pattern of `total` bytes cut at `boundaries` (ascending, inside).
fn from_boundaries(boundaries: &[usize], total: usize) -> Splits {
    let mut chunks = Vec::with_capacity(boundaries.len() + 1);
    let mut at = 0;
    for &b in boundaries.iter().chain(std::iter::once(&total)) {
        chunks.push(b - at);
        at = b;
    }
    Splits::new(chunks).unwrap_or_else(|| Splits::whole(total))
}

/// Whether `a` is smaller than `b`: fewer chunks, or as many with boundaries further left.
/// Every step of the search goes down this order, so the search ends.
fn smaller(a: &Splits, b: &Splits) -> bool {
    (a.len(), a.chunks()) < (b.len(), b.chunks())
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
    fn hundreds_of_one_byte_chunks_lose_every_unneeded_cut_in_few_tries() {
        let start = vec!["1"; 300].join(",");
        // Fails when byte 150 is read alone, and when bytes 6 and 296 start reads.
        let (minimal, tries) = shrink(&start, |s| {
            let b: Vec<usize> = s.boundaries().collect();
            b.contains(&150) && b.contains(&151)
        });
        assert_eq!(minimal.chunks(), &[150, 1, 149]);
        assert!(tries < 120, "{tries} tries");
        let (minimal, tries) = shrink(&start, |s| {
            let b: Vec<usize> = s.boundaries().collect();
            b.contains(&6) && b.contains(&296)
        });
        assert_eq!(minimal.chunks(), &[6, 290, 4]);
        assert!(tries < 120, "{tries} tries");
    }

    #[test]
    fn kept_boundaries_stay_in_every_candidate() {
        let start: Splits = "3,4,5,6".parse().unwrap();
        let mut shrinker = Shrinker::keeping(start.clone(), vec![7]);
        let mut tries = 0;
        while let Some(candidate) = shrinker.next_candidate() {
            tries += 1;
            assert!(candidate.boundaries().any(|b| b == 7), "{candidate}");
            assert_ne!(&candidate, shrinker.current());
            shrinker.report(candidate, true);
        }
        assert_eq!(shrinker.current().chunks(), &[7, 11], "{tries} tries");
    }

    #[test]
    fn a_pattern_that_must_stay_whole_is_already_minimal() {
        let (minimal, tries) = shrink("7", |_| true);
        assert_eq!(minimal.chunks(), &[7]);
        assert_eq!(tries, 0);
    }
}

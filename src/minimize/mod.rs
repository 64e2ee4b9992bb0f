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
//! A blob whose records are frames may need many cuts inside one frame header, or inside one
//! header block (a parser that counts each read there as one more frame): dropping any of
//! them makes the bug go away, so groups of cuts dropped at once and merges all pass, and the
//! greedy steps would slide one cut at a time. A shrinker made [`Shrinker::grouping`] knows
//! those places (each a range of offsets) and first, for each group holding two cuts or more:
//! drops every cut outside the groups at once, moves the group's cuts earlier as one run (one
//! byte apart from the group's start, halfway there, one byte earlier, from its first cut),
//! drops each of them alone, and only then all of them; the steps above follow. No candidate
//! is proposed twice for one current pattern, so the result is locally minimal as before.
//!
//! Some boundaries are part of the case, not of the search: where a conversation waits for
//! the server, where a pause falls. A shrinker given them (`kept`) puts them back into every
//! candidate, and proposes only candidates smaller than the current pattern.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::ops::RangeInclusive;

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
    /// Ranges of offsets whose cuts are narrowed as a group: moved and merged there before
    /// they are dropped.
    groups: Vec<RangeInclusive<usize>>,
    /// The candidates proposed since `current` last changed: none is proposed twice.
    tried: Vec<Splits>,
}

#[derive(Clone, Copy, Debug)]
struct Dropping {
    groups: usize,
    next: usize,
}

/// Fewer cuts than this are left to the greedy steps alone.
const DROP_FROM: usize = 4;

impl Shrinker {
    /// Starts from a pattern known to fail; every candidate keeps the boundaries at `kept`,
    /// and the cuts inside each of `groups` (ranges of offsets, such as a frame header's) are
    /// narrowed as a group first.
    pub(crate) fn grouping(
        failing: Splits,
        kept: Vec<usize>,
        groups: Vec<RangeInclusive<usize>>,
    ) -> Self {
        let mut shrinker = Shrinker {
            current: failing,
            candidates: VecDeque::new(),
            kept,
            dropping: None,
            groups,
            tried: Vec::new(),
        };
        shrinker.restart();
        shrinker
    }

    /// Starts the search over from `current`: groups of cuts first, when there are many.
    fn restart(&mut self) {
        self.tried.clear();
        self.dropping =
            (self.outside_groups().len() >= DROP_FROM).then_some(Dropping { groups: 2, next: 0 });
        let mut candidates = self.candidates_of(&self.current);
        if self.dropping.is_some() {
            // A bug that needs only the first cuts shows on the first tries, before the groups.
            candidates.truncate(2);
        }
        let mut grouped = self.grouped_candidates();
        grouped.extend(candidates);
        self.candidates = grouped;
    }

    /// The group steps for `current`: every cut outside the group holding most cuts dropped
    /// at once, then every cut outside the groups holding two or more; for each such group
    /// (most cuts first): the group's cuts moved earlier
    /// as one run, one byte apart, starting at the group's start, halfway to its first cut,
    /// one byte before it, at it; each of its cuts dropped alone; all of them dropped.
    fn grouped_candidates(&self) -> VecDeque<Splits> {
        let cuts = self.droppable();
        let held = self.held();
        let mut out = VecDeque::new();
        let Some((_, most)) = held.first() else {
            return out;
        };
        let mut push = |mut boundaries: Vec<usize>| {
            boundaries.sort_unstable();
            boundaries.dedup();
            let candidate = from_boundaries(&boundaries, self.current.total());
            if let Some(c) = self.with_kept(candidate, &self.current)
                && !out.contains(&c)
            {
                out.push_back(c);
            }
        };
        push(most.clone());
        let in_groups = |c: &usize| held.iter().any(|(g, _)| g.contains(c));
        push(cuts.iter().copied().filter(in_groups).collect());
        for (group, inside) in &held {
            let others = || cuts.iter().copied().filter(|c| !inside.contains(c));
            let (lo, first, k) = (*group.start(), inside[0], inside.len());
            for start in [
                lo,
                lo + (first - lo) / 2,
                first.saturating_sub(1).max(lo),
                first,
            ] {
                if start + k - 1 <= *group.end() {
                    push(others().chain(start..start + k).collect());
                }
            }
            for dropped in inside {
                push(cuts.iter().copied().filter(|c| c != dropped).collect());
            }
            push(others().collect());
        }
        out
    }

    /// The groups holding two cuts or more of `current`, each with its cuts (not the kept
    /// ones), most cuts first.
    fn held(&self) -> Vec<(&RangeInclusive<usize>, Vec<usize>)> {
        let cuts = self.droppable();
        let mut held: Vec<(&RangeInclusive<usize>, Vec<usize>)> = self
            .groups
            .iter()
            .filter_map(|g| {
                // The cuts ascend: those inside `g` are one slice of them.
                let from = cuts.partition_point(|c| c < g.start());
                let to = cuts.partition_point(|c| c <= g.end());
                (to >= from + 2).then(|| (g, cuts[from..to].to_vec()))
            })
            .collect();
        held.sort_by_key(|(_, inside)| Reverse(inside.len()));
        held
    }

    /// The cuts that groups of cuts are dropped from: those that may be dropped and lie in
    /// no group holding two cuts or more (the group steps narrow those).
    fn outside_groups(&self) -> Vec<usize> {
        let held = self.held();
        let mut cuts = self.droppable();
        cuts.retain(|c| !held.iter().any(|(g, _)| g.contains(c)));
        cuts
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
        let cuts = self.outside_groups();
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
            if let Some(candidate) = self.with_kept(candidate, splits)
                && !out.contains(&candidate)
            {
                out.push_back(candidate);
            }
        }
        out
    }

    /// `candidate` with the kept boundaries put back, when it is then smaller than `splits`.
    fn with_kept(&self, candidate: Splits, splits: &Splits) -> Option<Splits> {
        let candidate = self
            .kept
            .iter()
            .filter(|&&at| at > 0 && at < splits.total())
            .fold(candidate, |c, &at| c.with_boundary(at));
        smaller(&candidate, splits).then_some(candidate)
    }

    /// The next pattern to try, or `None` when the current one is locally minimal.
    pub(crate) fn next_candidate(&mut self) -> Option<Splits> {
        loop {
            let candidate = self.propose()?;
            if !self.tried.contains(&candidate) {
                self.tried.push(candidate.clone());
                return Some(candidate);
            }
        }
    }

    /// The next pattern of the search's order, perhaps one already tried.
    fn propose(&mut self) -> Option<Splits> {
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
        let (minimal, tries, _) = shrink_grouped(start, Vec::new(), fails);
        (minimal, tries)
    }

    /// Like [`shrink`], the cuts in `groups` narrowed as groups; also what the tries would
    /// cost on real sockets, in deliveries: 1 for a candidate that fails, 3 for one that does
    /// not (each candidate is tried up to 3 times).
    fn shrink_grouped(
        start: &str,
        groups: Vec<RangeInclusive<usize>>,
        fails: impl Fn(&Splits) -> bool,
    ) -> (Splits, usize, usize) {
        let start: Splits = start.parse().unwrap();
        assert!(fails(&start));
        let mut shrinker = Shrinker::grouping(start, Vec::new(), groups);
        let (mut tries, mut deliveries) = (0, 0);
        while let Some(candidate) = shrinker.next_candidate() {
            tries += 1;
            let failed = fails(&candidate);
            deliveries += if failed { 1 } else { 3 };
            shrinker.report(candidate, failed);
        }
        (shrinker.current().clone(), tries, deliveries)
    }

    /// The HTTP/2 fixture's bug on `fixtures/h2/get.bin` (164 bytes): seven reads or more
    /// end inside its header block (bytes 64 to 147), a read counted once 4 bytes of the
    /// block's first frame are in.
    fn h2_bug(s: &Splits) -> bool {
        s.boundaries().filter(|b| (68..=146).contains(b)).count() >= 7
    }

    /// The cut groups of `fixtures/h2/get.bin`: SETTINGS, WINDOW_UPDATE, the header block,
    /// PING.
    fn h2_groups() -> Vec<RangeInclusive<usize>> {
        vec![25..=33, 52..=60, 65..=146, 148..=156]
    }

    #[test]
    fn many_cuts_a_header_block_needs_are_moved_and_merged_there_first() {
        let bytewise = format!("60,{},14", vec!["1"; 90].join(","));
        let scattered = format!("30,2,40,{},76", vec!["1"; 16].join(","));
        for start in [
            "66,3,1,1,1,4,42,1,33,12",
            "70,6,1,1,2,1,37,1,45",
            &scattered,
            &bytewise,
        ] {
            let (plain, _, before) = shrink_grouped(start, Vec::new(), h2_bug);
            let (grouped, tries, after) = shrink_grouped(start, h2_groups(), h2_bug);
            assert_eq!(
                grouped.chunks(),
                &[68, 1, 1, 1, 1, 1, 1, 90],
                "from {start}"
            );
            assert!(plain.len() >= grouped.len(), "from {start}: {plain}");
            assert!(
                after * 3 <= before,
                "from {start}: {tries} tries, {after} deliveries ({before} with no groups)"
            );
        }
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
        let mut shrinker = Shrinker::grouping(start.clone(), vec![7], Vec::new());
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

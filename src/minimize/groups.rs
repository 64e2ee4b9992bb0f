//! Group testing over suspects: which of many cases in flight made the server fail, alone
//! or only together.
//!
//! Replaying a hundred suspects one at a time, each on a fresh server, costs a hundred
//! restarts, and the budget often runs out before the culprit's turn. Here sets of suspects
//! are replayed together and halved (the half that still fails is kept), so one culprit
//! among `n` costs about log2(`n`) replays. The most likely few are tried alone first, as
//! the culprit usually is the most recent case. When neither half of a failing set fails,
//! the bug needs cases from both: the set is reduced to the smallest that still fails
//! together (delta debugging, by removing chunks of it). Whatever the groups missed (a
//! culprit that does not fail every time) is then tried alone, one by one.
//!
//! The search runs nothing itself: it asks a [`Replay`] whether a set fails (indices into
//! the suspects, most likely first), which the caller answers by replaying (`None` when the
//! budget ran out). So it is tested without sockets.

use std::future::Future;

/// Replays sets of suspects for the search.
pub(crate) trait Replay: Send {
    type Error;

    /// Does this set of suspects (one alone, or several at once) fail? `None` when the
    /// budget ran out.
    fn fails(
        &mut self,
        set: &[usize],
    ) -> impl Future<Output = Result<Option<bool>, Self::Error>> + Send;
}

/// Which suspects fail, as the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failing {
    /// This suspect fails alone.
    Alone(usize),
    /// These suspects fail together, and neither half of them does.
    Together(Vec<usize>),
    /// Nothing failed (or the budget ran out first).
    Nothing,
}

/// How many of the most likely suspects are tried alone before any group.
const FIRST_ALONE: usize = 4;

/// Searches `n` suspects (index 0 most likely) for the one that fails alone, or a set that
/// fails together.
pub(crate) async fn search<R: Replay>(n: usize, replay: &mut R) -> Result<Failing, R::Error> {
    // `None` from `fails` (the budget ran out) ends the search at once.
    macro_rules! ask {
        ($set:expr) => {
            match replay.fails($set).await? {
                Some(failed) => failed,
                None => return Ok(Failing::Nothing),
            }
        };
    }
    let first = n.min(FIRST_ALONE);
    let mut alone_tried = vec![false; n];
    alone_tried[..first].fill(true);
    for i in 0..first {
        if ask!(&[i]) {
            return Ok(Failing::Alone(i));
        }
    }
    let mut set: Vec<usize> = (first..n).collect();
    let mut narrowed = false;
    while set.len() > 1 {
        let (a, b) = set.split_at(set.len() / 2);
        let (a, b) = (a.to_vec(), b.to_vec());
        if ask!(&a) {
            set = a;
        } else if ask!(&b) {
            set = b;
        } else {
            break;
        }
        narrowed = true;
    }
    if let [only] = set[..] {
        alone_tried[only] = true;
        if narrowed || ask!(&[only]) {
            return Ok(Failing::Alone(only));
        }
    } else if set.len() > 1 && ask!(&set) {
        return Ok(Failing::Together(set));
    }
    let untried: Vec<usize> = (0..n).filter(|&i| !alone_tried[i]).collect();
    for i in untried {
        if ask!(&[i]) {
            return Ok(Failing::Alone(i));
        }
    }
    Ok(Failing::Nothing)
}

/// Reduces `set` (which fails together) to a smaller set that still fails, removing chunks
/// of it while the rest fails: halves first, then quarters, and so on down to single cases.
pub(crate) async fn smallest<R: Replay>(
    mut set: Vec<usize>,
    replay: &mut R,
) -> Result<Vec<usize>, R::Error> {
    let mut parts = 2;
    'outer: while set.len() > 1 {
        let size = set.len().div_ceil(parts);
        for start in (0..set.len()).step_by(size) {
            let rest: Vec<usize> = set[..start]
                .iter()
                .chain(&set[(start + size).min(set.len())..])
                .copied()
                .collect();
            match replay.fails(&rest).await? {
                Some(true) => {
                    set = rest;
                    parts = (parts - 1).clamp(2, set.len().max(2));
                    continue 'outer;
                }
                Some(false) => {}
                None => break 'outer,
            }
        }
        if parts >= set.len() {
            break; // every single case was tried without
        }
        parts = (parts * 2).min(set.len());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Answers by a rule, counting the replays asked for; the budget runs out after
    /// `budget` of them.
    struct Rule<F> {
        fails: F,
        asked: usize,
        budget: usize,
    }

    impl<F: Fn(&[usize]) -> bool + Send> Replay for Rule<F> {
        type Error = Infallible;

        async fn fails(&mut self, set: &[usize]) -> Result<Option<bool>, Infallible> {
            self.asked += 1;
            Ok((self.asked <= self.budget).then(|| (self.fails)(set)))
        }
    }

    fn rule<F: Fn(&[usize]) -> bool + Send>(fails: F) -> Rule<F> {
        Rule {
            fails,
            asked: 0,
            budget: usize::MAX,
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Runs the search against a rule: what it found, and how many replays it asked for.
    fn run(n: usize, fails: impl Fn(&[usize]) -> bool + Send) -> (Failing, usize) {
        let mut replay = rule(fails);
        let found = block_on(search(n, &mut replay)).unwrap();
        (found, replay.asked)
    }

    #[test]
    fn one_culprit_among_200_costs_about_log2_replays() {
        for culprit in [0, 3, 4, 57, 199] {
            let (found, asked) = run(200, |set| set.contains(&culprit));
            assert_eq!(found, Failing::Alone(culprit));
            assert!(asked <= FIRST_ALONE + 2 * 8, "{culprit}: {asked} replays");
        }
    }

    #[test]
    fn a_pair_that_fails_only_together_is_found_and_reduced_to_itself() {
        let pair = |set: &[usize]| set.contains(&20) && set.contains(&150);
        let (found, _) = run(200, pair);
        let Failing::Together(set) = found else {
            panic!("{found:?}")
        };
        let mut replay = rule(pair);
        let smallest = block_on(smallest(set, &mut replay)).unwrap();
        assert_eq!(smallest, [20, 150]);
        assert!(replay.asked < 60, "{} replays", replay.asked);
    }

    #[test]
    fn a_culprit_that_fails_only_alone_is_still_found_one_by_one() {
        // Replayed with others it never shows (say, it needs the server to itself).
        let (found, _) = run(30, |set| set == [17]);
        assert_eq!(found, Failing::Alone(17));
    }

    #[test]
    fn nothing_fails_and_the_budget_ends_the_search() {
        assert_eq!(run(10, |_| false).0, Failing::Nothing);
        let mut replay = Rule {
            fails: |_: &[usize]| false,
            asked: 0,
            budget: 4,
        };
        let found = block_on(search(100, &mut replay)).unwrap();
        assert_eq!((found, replay.asked), (Failing::Nothing, 5));
    }
}

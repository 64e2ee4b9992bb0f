//! [`AnswerOracle`]: what a delivery's answer must be, besides the server staying up. Oracles
//! add up, so [`Stutter::responses`](crate::Stutter::responses) adds each call's to the
//! earlier ones.

use std::sync::Arc;
use std::time::Duration;

use crate::case::Case;
use crate::oracle::{Checker, Normalizer, Oracles, Response};

/// The answer oracles. By default a run checks that splitting never changes the answer
/// ([`same`](Self::same)), besides the server's death, refusals, hangs of its reading and
/// alarms in its output; [`none`](Self::none) turns the answer oracles off.
///
/// ```no_run
/// use std::time::Duration;
/// use stutterfuzz::{AnswerOracle, Stutter};
///
/// Stutter::new("127.0.0.1:6379")
///     .blobs("fixtures/redis")
///     .oracle(
///         AnswerOracle::default()
///             .mask(r"Date: [^\r]*")
///             .within(Duration::from_secs(2)),
///     )
///     .run_for(Duration::from_secs(10));
/// ```
#[derive(Clone, Default)]
pub struct AnswerOracle {
    /// The oracles to add; their `same_as_whole` is not read: `same` says it.
    pub(crate) oracles: Oracles,
    /// Turns the comparison with the whole answer on or off; `None` leaves it as it was.
    pub(crate) same: Option<bool>,
    /// Drops the answer oracles of earlier calls, defaults included.
    pub(crate) clear: bool,
    /// Patterns that did not parse: a setup error when the run starts.
    pub(crate) bad: Vec<String>,
    /// Never two deliveries of one blob at once; `None` leaves it as it was.
    pub(crate) isolate_blobs: Option<bool>,
}

impl std::fmt::Debug for AnswerOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerOracle")
            .field("same", &self.same)
            .field("clear", &self.clear)
            .field("masks", &self.oracles.masks.len())
            .field("within", &self.oracles.response_timeout)
            .field("check", &self.oracles.check.is_some())
            .finish_non_exhaustive()
    }
}

impl AnswerOracle {
    /// Splitting never changes the answer: before fuzzing, each blob is sent whole (one
    /// write) on a fresh connection and its answer recorded; every split delivery of that
    /// blob must then get the same bytes and the same end (the server closed, or kept the
    /// connection open). An answer is complete when the server closes, or when it reached
    /// the recorded length and nothing more came within a short settle. Parts that vary by
    /// themselves (a counter, a timestamp) are learnt from two whole answers and left out. A
    /// difference counts only when it shows again 3 times delivered alone, each after a fresh
    /// whole answer; the others are `unconfirmed=` in the stats. Make each blob idempotent
    /// (reset the keys it uses first).
    ///
    /// On by default: call it to say so, or after [`none`](Self::none).
    pub fn same() -> Self {
        AnswerOracle {
            same: Some(true),
            ..AnswerOracle::default()
        }
    }

    /// No answer oracle: the comparison with the whole answer is off, and the oracles of
    /// earlier calls are dropped, so only the server's death, refusals, hangs of its reading
    /// and alarms in its output count. For blobs whose answers change with every delivery
    /// in ways no mask can name. Later calls may add oracles again.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// use stutterfuzz::{AnswerOracle, Stutter};
    ///
    /// Stutter::new("127.0.0.1:6789")
    ///     .blobs("fixtures/blobs")
    ///     .oracle(AnswerOracle::none())
    ///     .run_for(Duration::from_secs(10));
    /// ```
    pub fn none() -> Self {
        AnswerOracle {
            same: Some(false),
            clear: true,
            ..AnswerOracle::default()
        }
    }

    /// Maps every answer before [`same`](Self::same) compares it, for answers that vary in
    /// ways the harness cannot learn (timestamps, ids, CAS tokens).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// use stutterfuzz::{AnswerOracle, Stutter};
    ///
    /// // Memcached's `gets` answers `VALUE key flags bytes cas`: drop the cas token.
    /// fn without_cas(response: &[u8]) -> Vec<u8> {
    ///     let text = String::from_utf8_lossy(response);
    ///     let lines: Vec<String> = text
    ///         .split("\r\n")
    ///         .map(|line| match line.strip_prefix("VALUE ") {
    ///             Some(rest) => {
    ///                 let fields: Vec<&str> = rest.split(' ').take(3).collect();
    ///                 format!("VALUE {}", fields.join(" "))
    ///             }
    ///             None => line.to_owned(),
    ///         })
    ///         .collect();
    ///     lines.join("\r\n").into_bytes()
    /// }
    ///
    /// Stutter::new("127.0.0.1:11211")
    ///     .blobs("fixtures/memcached")
    ///     .oracle(AnswerOracle::same().normalize(without_cas))
    ///     .run_for(Duration::from_secs(10));
    /// ```
    pub fn normalize(mut self, map: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> Self {
        let map: Normalizer = Arc::new(map);
        self.oracles.normalize = Some(map);
        self
    }

    /// Leaves the parts of every answer that match the regular expression `pattern` out of
    /// [`same`](Self::same)'s comparison (each is compared as `<masked>`), such as
    /// `Date: [^\r]*`. It is matched against the answer's bytes ([`regex::bytes`]): `.` is
    /// one UTF-8 character but not a line end; start the pattern with `(?s-u)` to make it any
    /// byte. May be given more than once. A pattern that does not parse is a setup error when
    /// the run starts.
    pub fn mask(mut self, pattern: &str) -> Self {
        match regex::bytes::Regex::new(pattern) {
            Ok(mask) => self.oracles.masks.push(mask),
            Err(e) => self.bad.push(format!(
                "mask {pattern:?} is not a regular expression: {e}; fix the pattern"
            )),
        }
        self
    }

    /// Never delivers one blob twice at the same time: for blobs that disturb their own
    /// answers when two copies run at once (a counter, a key both write), and cannot be
    /// made not to. Costs throughput: at most one connection per blob. Default: off.
    pub fn isolate_blobs(mut self, on: bool) -> Self {
        self.isolate_blobs = Some(on);
        self
    }

    /// After the last chunk, the server must complete its answer within `limit` (the whole
    /// blob's answer under [`same`](Self::same); otherwise at least one byte or a close), or
    /// it is a finding: "no response N ms after the last chunk".
    pub fn within(mut self, limit: Duration) -> Self {
        self.oracles.response_timeout = Some(limit);
        self
    }

    /// Your own oracle, run on every delivery that sent its whole blob: return `Err` with a
    /// message to make it a finding.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// use stutterfuzz::{AnswerOracle, Stutter};
    ///
    /// Stutter::new("127.0.0.1:6789")
    ///     .blobs("fixtures/blobs")
    ///     .oracle(AnswerOracle::default().check(|case, response| {
    ///         if response.bytes().starts_with(b"-ERR") {
    ///             Err(format!("{} got an error reply", case.blob()))
    ///         } else {
    ///             Ok(())
    ///         }
    ///     }))
    ///     .run_for(Duration::from_secs(10));
    /// ```
    pub fn check(
        mut self,
        oracle: impl Fn(&Case, &Response) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        let oracle: Checker = Arc::new(oracle);
        self.oracles.check = Some(oracle);
        self
    }

    /// These oracles added to `self`'s: masks add up, the others are set where `more` sets
    /// them; [`none`](Self::none) first drops them all.
    pub(crate) fn add(&mut self, more: AnswerOracle) {
        if more.clear {
            self.oracles = Oracles::default();
        }
        let (mine, theirs) = (&mut self.oracles, more.oracles);
        if let Some(same) = more.same {
            mine.same_as_whole = same;
        }
        mine.masks.extend(theirs.masks);
        mine.normalize = theirs.normalize.or(mine.normalize.take());
        mine.response_timeout = theirs.response_timeout.or(mine.response_timeout);
        mine.check = theirs.check.or(mine.check.take());
        self.bad.extend(more.bad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracles of a run that starts with the defaults and adds `calls` in order.
    fn after(calls: Vec<AnswerOracle>) -> Oracles {
        let mut all = AnswerOracle {
            oracles: Oracles::by_default(),
            ..AnswerOracle::default()
        };
        for more in calls {
            all.add(more);
        }
        all.oracles
    }

    #[test]
    fn the_comparison_is_on_by_default_and_each_call_adds_to_it() {
        let limit = Duration::from_secs(1);
        let kept = after(vec![AnswerOracle::default().within(limit)]);
        assert!(kept.same_as_whole && kept.response_timeout == Some(limit));
        let off = after(vec![
            AnswerOracle::default().within(limit),
            AnswerOracle::none(),
        ]);
        assert!(
            !off.same_as_whole && off.response_timeout.is_none(),
            "none drops all"
        );
        let later = after(vec![
            AnswerOracle::none(),
            AnswerOracle::default().within(limit),
        ]);
        assert!(!later.same_as_whole && later.response_timeout == Some(limit));
        assert!(after(vec![AnswerOracle::none(), AnswerOracle::same()]).same_as_whole);
    }
}

//! What counts as a bug: a server that ended, refused or stopped accepting, or printed an
//! alarming line ([`verdict`]), and, on request, a response that changes with the split
//! pattern, a server that never answers, or a failed user check ([`Oracles::judge`]).
//!
//! Judging is pure: it takes what a delivery heard and returns a finding kind or nothing, so
//! each oracle is unit-tested without sockets. The engine decides when to judge.

mod response;
mod verdict;
mod volatile;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use response::Response;
pub(crate) use response::{Baseline, first_difference};
pub(crate) use verdict::{alarmed, connect_failed, exited, may_interfere, stopped_reading};

use crate::case::Case;
use crate::report::FindingKind;
use crate::wire::{Ending, Heard, Listen, Neglect, ReadEnd};

/// How long a complete-looking response (it has the whole-blob response's length) must stay
/// quiet before it counts as complete. Only bytes beyond that length are waited for here, so
/// a shorter settle can only miss a late extra byte, never raise a false alarm; every
/// delivery pays it, so it is kept short (measured against the correct fixture at 100
/// connections: 10 ms cost 40 % of the deliveries/s of a run without response oracles, 2 ms
/// about 20 %, 1 ms about 11 %).
pub(crate) const SETTLE: Duration = Duration::from_millis(1);
/// The whole-blob delivery has no length to wait for: it waits for this much quiet.
pub(crate) const BASELINE_SETTLE: Duration = Duration::from_millis(200);
/// Without `.response_timeout`, how long to wait for a response before judging what came.
pub(crate) const RESPONSE_WAIT: Duration = Duration::from_secs(2);

/// Maps a response before comparison (drops timestamps, ids).
pub(crate) type Normalizer = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;
/// The user's own check of one delivery.
pub(crate) type Checker = Arc<dyn Fn(&Case, &Response) -> Result<(), String> + Send + Sync>;

/// The response oracles of a run.
#[derive(Clone, Default)]
pub(crate) struct Oracles {
    pub(crate) expect_same: bool,
    pub(crate) normalize: Option<Normalizer>,
    /// Parts of answers to leave out of the comparison (`.mask` / `--mask`).
    pub(crate) masks: Vec<regex::bytes::Regex>,
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) check: Option<Checker>,
}

/// What the blob sent whole once more said of its first answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relearnt {
    /// The same answer: the server does not vary by itself here.
    Unchanged,
    /// Some words changed: they are now known to vary.
    Learnt,
    /// Another answer altogether (more lines, other words in other places).
    Reshaped,
}

/// What a masked part of an answer is compared as.
const MASKED: &[u8] = b"<masked>";

impl fmt::Debug for Oracles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oracles")
            .field("expect_same", &self.expect_same)
            .field("normalize", &self.normalize.is_some())
            .field("masks", &self.masks.len())
            .field("response_timeout", &self.response_timeout)
            .field("check", &self.check.is_some())
            .finish()
    }
}

impl Oracles {
    /// True when any oracle reads responses (so connections wait for them).
    pub(crate) fn listens(&self) -> bool {
        self.expect_same || self.response_timeout.is_some() || self.check.is_some()
    }

    /// How a split delivery of a blob with this baseline listens after its last chunk.
    pub(crate) fn listen(&self, baseline: Option<&Baseline>, linger: Duration) -> Listen {
        if !self.listens() {
            return Listen::HalfClose { linger };
        }
        Listen::Await {
            expect: baseline.map(Baseline::expected_len),
            settle: SETTLE,
            limit: self.response_timeout.unwrap_or(RESPONSE_WAIT),
        }
    }

    /// How the whole-blob delivery that records a baseline listens.
    pub(crate) fn baseline_listen(&self) -> Listen {
        Listen::Await {
            expect: None,
            settle: BASELINE_SETTLE,
            limit: self.response_timeout.unwrap_or(RESPONSE_WAIT),
        }
    }

    /// An answer as it is compared: masked, then mapped by the user's normalizer.
    pub(crate) fn normalized<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let mut out = std::borrow::Cow::Borrowed(bytes);
        for mask in &self.masks {
            if let std::borrow::Cow::Owned(masked) = mask.replace_all(&out, MASKED) {
                out = std::borrow::Cow::Owned(masked);
            }
        }
        match &self.normalize {
            Some(f) => std::borrow::Cow::Owned(f(&out)),
            None => out,
        }
    }

    /// Compares the blob's answer sent whole once more (`again`) with `baseline`, and learns
    /// what of it varies by itself.
    pub(crate) fn relearn(&self, baseline: &mut Baseline, again: &[u8]) -> Relearnt {
        let before = self.normalized(&baseline.bytes).into_owned();
        let after = self.normalized(again);
        if before == *after {
            Relearnt::Unchanged
        } else if baseline.volatile.learn(&before, &after) {
            Relearnt::Learnt
        } else {
            Relearnt::Reshaped
        }
    }

    /// Judges one delivery of `case` as it ended: one closed early on purpose sent no whole
    /// request, so there is nothing to judge. One that paused mid-message is judged by its
    /// probe (`neglect`) alone: the probe sent the same request meanwhile, so on a server
    /// with state the paused delivery's own answer may rightly differ.
    pub(crate) fn judge_delivery(
        &self,
        case: &Case,
        ending: Ending,
        heard: &Heard,
        baseline: Option<&Baseline>,
        neglect: Option<Neglect>,
    ) -> Option<FindingKind> {
        if let Some(neglect) = neglect {
            return Some(verdict::neglected(neglect));
        }
        if ending == Ending::ClosedEarly || case.stall().is_some() {
            return None;
        }
        self.judge(case, heard, baseline)
    }

    /// Judges one delivery of `case` that sent its whole blob (or was cut off by the
    /// server): the first oracle that objects names the finding.
    pub(crate) fn judge(
        &self,
        case: &Case,
        heard: &Heard,
        baseline: Option<&Baseline>,
    ) -> Option<FindingKind> {
        if let Some(limit) = self.response_timeout
            && heard.end == ReadEnd::TimedOut
        {
            let chunks = case.splits().chunks();
            let last_boundary = case.splits().total() - chunks.last().copied().unwrap_or(0);
            return Some(FindingKind::NoResponse {
                waited: limit,
                received: heard.received,
                last_boundary,
            });
        }
        if self.expect_same
            && let Some(baseline) = baseline
        {
            let expected = self.normalized(&baseline.bytes);
            let actual = self.normalized(&heard.bytes);
            let closed = heard.closed();
            if !baseline.volatile.same(&expected, &actual) || closed != baseline.closed {
                return Some(FindingKind::ResponseDiffers {
                    first_difference: first_difference(&expected, &actual),
                    expected: expected.into_owned(),
                    actual: actual.into_owned(),
                    expected_closed: baseline.closed,
                    actual_closed: closed,
                });
            }
        }
        if let Some(check) = &self.check {
            let response = Response::new(heard.bytes.clone(), heard.closed());
            if let Err(message) = check(case, &response) {
                return Some(FindingKind::CheckFailed { message });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(bytes: &[u8], end: ReadEnd) -> Heard {
        Heard {
            bytes: bytes.to_vec(),
            received: bytes.len() as u64,
            end,
            waited: Duration::ZERO,
        }
    }

    fn case() -> Case {
        "v1:req:3,1,19".parse().unwrap()
    }

    #[test]
    fn the_same_response_passes_and_a_different_one_is_found() {
        let oracles = Oracles {
            expect_same: true,
            ..Oracles::default()
        };
        let baseline = Baseline::new(b"+OK\n+v\n".to_vec(), false);
        assert_eq!(
            oracles.judge(
                &case(),
                &heard(b"+OK\n+v\n", ReadEnd::Settled),
                Some(&baseline)
            ),
            None
        );
        match oracles.judge(
            &case(),
            &heard(b"+OK\n-ERR\n", ReadEnd::Settled),
            Some(&baseline),
        ) {
            Some(FindingKind::ResponseDiffers {
                first_difference, ..
            }) => assert_eq!(first_difference, 4),
            other => panic!("{other:?}"),
        }
        // Same bytes, but the server closed where it kept the whole-blob connection open.
        assert!(matches!(
            oracles.judge(
                &case(),
                &heard(b"+OK\n+v\n", ReadEnd::Closed),
                Some(&baseline)
            ),
            Some(FindingKind::ResponseDiffers {
                actual_closed: true,
                ..
            })
        ));
    }

    #[test]
    fn normalize_maps_both_sides_before_comparing() {
        let oracles = Oracles {
            expect_same: true,
            normalize: Some(Arc::new(|b: &[u8]| {
                b.iter()
                    .map(|c| if c.is_ascii_digit() { b'#' } else { *c })
                    .collect()
            })),
            ..Oracles::default()
        };
        let baseline = Baseline::new(b"time=1700000000\n".to_vec(), true);
        let later = heard(b"time=1700000042\n", ReadEnd::Closed);
        assert_eq!(oracles.judge(&case(), &later, Some(&baseline)), None);
    }

    #[test]
    fn a_timed_out_response_is_a_hang_only_with_a_response_timeout() {
        let silent = heard(b"", ReadEnd::TimedOut);
        assert_eq!(Oracles::default().judge(&case(), &silent, None), None);
        let oracles = Oracles {
            response_timeout: Some(Duration::from_millis(300)),
            ..Oracles::default()
        };
        match oracles.judge(&case(), &silent, None) {
            Some(FindingKind::NoResponse {
                last_boundary,
                waited,
                ..
            }) => {
                assert_eq!(last_boundary, 4);
                assert_eq!(waited, Duration::from_millis(300));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_user_check_can_object() {
        let oracles = Oracles {
            check: Some(Arc::new(|case: &Case, response: &Response| {
                if response.bytes().starts_with(b"-ERR") {
                    Err(format!("{} got an error", case.blob()))
                } else {
                    Ok(())
                }
            })),
            ..Oracles::default()
        };
        assert_eq!(
            oracles.judge(&case(), &heard(b"+OK\n", ReadEnd::Settled), None),
            None
        );
        assert_eq!(
            oracles.judge(&case(), &heard(b"-ERR x\n", ReadEnd::Settled), None),
            Some(FindingKind::CheckFailed {
                message: "req got an error".into()
            })
        );
    }

    #[test]
    fn listening_depends_on_the_oracles() {
        let linger = Duration::from_millis(50);
        assert_eq!(
            Oracles::default().listen(None, linger),
            Listen::HalfClose { linger }
        );
        let oracles = Oracles {
            expect_same: true,
            ..Oracles::default()
        };
        let baseline = Baseline::new(vec![1; 7], false);
        assert_eq!(
            oracles.listen(Some(&baseline), linger),
            Listen::Await {
                expect: Some(7),
                settle: SETTLE,
                limit: RESPONSE_WAIT
            }
        );
    }
}

//! What counts as a bug: a server that ended, refused or stopped accepting, or printed an
//! alarming line ([`verdict`]), an answer with an HTTP/2 or WebSocket protocol failure the
//! blob sent whole did not get ([`protocol_failure`]), and, on request, a response that
//! changes with the split pattern, a server that never answers, or a failed user check
//! ([`Oracles::judge`]).
//!
//! Judging is pure: it takes what a delivery heard and returns a finding kind or nothing, so
//! each oracle is unit-tested without sockets. The engine decides when to judge.

mod durations;
mod framed;
mod kind;
mod protocol_failure;
mod response;
mod treatment;
mod verdict;
mod volatile;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use framed::{read_as, reading};
pub use kind::FindingKind;
pub(crate) use protocol_failure::{
    describe as describe_protocol_failure, whole_fails_too as protocol_fails_whole_too,
};
pub use response::Response;
pub(crate) use response::{Baseline, first_difference};
pub(crate) use verdict::{
    connect_failed, connect_failed_during_run, exited, first_of, gated, stopped_reading,
};
pub(crate) use volatile::Volatile;

use crate::case::Case;
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
/// A whole-blob delivery of the verdict gate, once the answer's length is known, waits
/// this much quiet after it.
pub(crate) const WHOLE_SETTLE: Duration = Duration::from_millis(20);
/// Without a time limit for answers (`AnswerOracle::within`, `--response-timeout`), how long to
/// wait for a response before judging what came.
pub(crate) const RESPONSE_WAIT: Duration = Duration::from_secs(2);

/// Answers longer than this are counted as they are (viewing and masking them on every
/// read would cost more than it saves).
const COUNTED_UP_TO: usize = 64 * 1024;

/// How long `bytes` is as compared: a framed answer by its whole frames and messages
/// ([`framed`]), durations masked ([`durations`]). What says when a split delivery's answer
/// is as long as the whole one's.
pub(crate) fn compared_len(bytes: &[u8]) -> usize {
    if bytes.len() > COUNTED_UP_TO {
        return bytes.len();
    }
    durations::masked(&framed::view(bytes)).len()
}

/// Maps a response before comparison (drops timestamps, ids).
pub(crate) type Normalizer = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;
/// The user's own check of one delivery.
pub(crate) type Checker = Arc<dyn Fn(&Case, &Response) -> Result<(), String> + Send + Sync>;

/// The response oracles of a run.
#[derive(Clone, Default)]
pub(crate) struct Oracles {
    pub(crate) same_as_whole: bool,
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

/// What a failing delivery is, judged again against a whole answer taken just now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejudged {
    /// It fails still, as this.
    Fails(FindingKind),
    /// It passes: the first verdict was the load of other deliveries, or a server not ready.
    Passes,
    /// It passes once what varies in the whole answer was learnt.
    Varied,
    /// The blob sent whole fails the same way: no boundary is to blame.
    WholeFailsToo(FindingKind),
}

/// What a masked part of an answer is compared as.
const MASKED: &[u8] = b"<masked>";

impl fmt::Debug for Oracles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oracles")
            .field("same_as_whole", &self.same_as_whole)
            .field("normalize", &self.normalize.is_some())
            .field("masks", &self.masks.len())
            .field("response_timeout", &self.response_timeout)
            .field("check", &self.check.is_some())
            .finish()
    }
}

impl Oracles {
    /// What a run checks unless told otherwise: splitting never changes the answer. It
    /// found the bugs of real servers that answer a split command wrong without crashing,
    /// and stayed quiet on the correct real servers the tests fuzz.
    pub(crate) fn by_default() -> Self {
        Oracles {
            same_as_whole: true,
            ..Oracles::default()
        }
    }

    /// True when any oracle reads responses (so connections wait for them).
    pub(crate) fn listens(&self) -> bool {
        self.same_as_whole || self.response_timeout.is_some() || self.check.is_some()
    }

    /// How a split delivery of a blob with this baseline listens after its last chunk.
    pub(crate) fn listen(&self, baseline: Option<&Baseline>, linger: Duration) -> Listen {
        if !self.listens() {
            return Listen::HalfClose { linger };
        }
        Listen::Await {
            expect: baseline.map(Baseline::expected_compared_len),
            settle: SETTLE,
            limit: self.response_timeout.unwrap_or(RESPONSE_WAIT),
            until_close: self.same_as_whole && baseline.is_some_and(Baseline::awaits_close),
        }
    }

    /// How the whole-blob delivery that records a baseline listens.
    pub(crate) fn baseline_listen(&self) -> Listen {
        Listen::Await {
            expect: None,
            settle: BASELINE_SETTLE,
            limit: self.response_timeout.unwrap_or(RESPONSE_WAIT),
            until_close: false,
        }
    }

    /// How the verdict gate's whole-blob deliveries listen: for the baseline's length (or
    /// its close), then a short quiet; as for a baseline when none is known yet.
    pub(crate) fn whole_listen(&self, baseline: Option<&Baseline>) -> Listen {
        let Some(baseline) = baseline else {
            return self.baseline_listen();
        };
        Listen::Await {
            expect: Some(baseline.expected_compared_len()),
            settle: WHOLE_SETTLE,
            limit: self.response_timeout.unwrap_or(RESPONSE_WAIT),
            until_close: baseline.awaits_close(),
        }
    }

    /// An answer as it is compared: an HTTP/2 or WebSocket server's read as what it says
    /// ([`framed`]), its durations masked (the split may make the server wait, and say so),
    /// then the user's masks, then mapped by the user's normalizer.
    pub(crate) fn normalized<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let viewed = framed::view(bytes);
        let mut out = match viewed {
            std::borrow::Cow::Borrowed(bytes) => durations::masked(bytes),
            std::borrow::Cow::Owned(view) => {
                std::borrow::Cow::Owned(durations::masked(&view).into_owned())
            }
        };
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

    /// Takes in the blob's answer sent whole once more (`again`): what differs from
    /// `baseline` is learnt as noise; an answer of another shape altogether becomes the
    /// baseline (the server's answer changed and stays so, as after its startup).
    pub(crate) fn relearn(&self, baseline: &mut Baseline, again: &Heard) -> Relearnt {
        let closing = again.closed() != baseline.closed && !baseline.volatile.closing;
        let before = self.normalized(&baseline.bytes).into_owned();
        let after = self.normalized(&again.bytes);
        baseline.shortest = baseline.shortest.min(again.bytes.len());
        baseline.shortest_compared = baseline.shortest_compared.min(compared_len(&again.bytes));
        baseline.volatile.closing |= closing;
        if before == *after {
            if closing {
                Relearnt::Learnt
            } else {
                Relearnt::Unchanged
            }
        } else if baseline.volatile.learn(&before, &after) {
            Relearnt::Learnt
        } else {
            *baseline = Baseline::new(again.bytes.clone(), again.closed());
            Relearnt::Reshaped
        }
    }

    /// The verdict gate's second look at a delivery that failed: judged again against
    /// the blob's whole answer `whole`, taken just now, from which `baseline` first learns
    /// what varies. A delivery that then passes found no bug; one whose whole blob fails
    /// the same way (the user's check) found no boundary bug.
    pub(crate) fn rejudge(
        &self,
        case: &Case,
        delivered: (Ending, &Heard, Option<Neglect>),
        baseline: Option<&mut Baseline>,
        whole: &Heard,
    ) -> Rejudged {
        let (ending, heard, neglect) = delivered;
        let Some(first) = self.judge_delivery(case, ending, heard, baseline.as_deref(), neglect)
        else {
            return Rejudged::Passes;
        };
        let whole_case = Case::new(
            case.blob(),
            crate::split::Splits::whole(case.splits().total()),
        );
        // A whole blob that gets no answer either is no warning: the server, answering
        // before, stopped answering altogether (frozen, deadlocked), which is a finding.
        if let Some(kind) = self.judge(&whole_case, whole, None)
            && std::mem::discriminant(&kind) == std::mem::discriminant(&first)
            && !matches!(kind, FindingKind::NoResponse { .. })
        {
            return Rejudged::WholeFailsToo(kind);
        }
        let Some(baseline) = baseline else {
            return Rejudged::Fails(first);
        };
        let relearnt = self.relearn(baseline, whole);
        // An answer cut off at the response timeout is judged by what it holds: complete
        // but shorter than the first whole answer (its varying words shorter) is no hang.
        let mut complete = heard.clone();
        if complete.end == ReadEnd::TimedOut && complete.received > 0 && self.same_as_whole {
            complete.end = ReadEnd::Settled;
        }
        match self.judge_delivery(case, ending, &complete, Some(baseline), neglect) {
            None if relearnt == Relearnt::Unchanged => Rejudged::Passes,
            None => Rejudged::Varied,
            // Still short, or still silent: the hang is the finding.
            Some(_) if matches!(first, FindingKind::NoResponse { .. }) => Rejudged::Fails(
                self.judge_delivery(case, ending, heard, Some(baseline), neglect)
                    .unwrap_or(first),
            ),
            Some(kind) => Rejudged::Fails(kind),
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
        // Named before any other: the server said itself that its parser broke.
        if let Some(kind) = protocol_failure::new_in(&heard.bytes, baseline) {
            return Some(kind);
        }
        if let Some(limit) = self.response_timeout
            && heard.end == ReadEnd::TimedOut
        {
            let chunks = case.splits().chunks();
            let last_boundary = case.splits().total() - chunks.last().copied().unwrap_or(0);
            return Some(FindingKind::NoResponse {
                waited: limit,
                received: heard.received,
                expected: baseline.map(|b| b.expected_len() as u64),
                last_boundary,
            });
        }
        if self.same_as_whole
            && let Some(baseline) = baseline
        {
            let expected = self.normalized(&baseline.bytes);
            let actual = self.normalized(&heard.bytes);
            let closed = heard.closed();
            let counted = baseline.volatile.counted_difference(&expected, &actual);
            let close_counts = closed != baseline.closed && !baseline.volatile.closing;
            if counted.is_some() || close_counts {
                return Some(FindingKind::ResponseDiffers {
                    first_difference: counted,
                    expected: expected.into_owned(),
                    actual: actual.into_owned(),
                    expected_closed: baseline.closed,
                    actual_closed: closed,
                    decoded: framed::protocol(&baseline.bytes),
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
mod tests;

//! Answers: what a delivery heard, the whole-blob baseline it is compared with, and where
//! two responses first differ.

/// What the server answered on one connection, as a [`check`](crate::AnswerOracle::check) sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    bytes: Vec<u8>,
    closed: bool,
}

impl Response {
    pub(crate) fn new(bytes: Vec<u8>, closed: bool) -> Self {
        Response { bytes, closed }
    }

    /// The bytes the server sent (the first MiB).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True when the server closed the connection; false when it kept it open and the
    /// response was taken as complete.
    pub fn closed_by_server(&self) -> bool {
        self.closed
    }
}

/// The response to a blob delivered whole, in one write: what every split delivery of that
/// blob must also get under `AnswerOracle::same`, but for the parts learnt to vary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Baseline {
    pub(crate) bytes: Vec<u8>,
    pub(crate) closed: bool,
    pub(crate) volatile: Volatile,
    /// The shortest whole answer seen: a split delivery waits for this many bytes.
    pub(crate) shortest: usize,
    /// The same, counted with durations masked ([`compared_len`](super::compared_len)).
    pub(crate) shortest_compared: usize,
}

impl Baseline {
    /// The whole-blob response `bytes`, closed by the server or not; nothing known to vary.
    pub(crate) fn new(bytes: Vec<u8>, closed: bool) -> Self {
        Baseline {
            shortest: bytes.len(),
            shortest_compared: super::compared_len(&bytes),
            bytes,
            closed,
            volatile: Volatile::default(),
        }
    }

    /// How many bytes a split delivery waits for before its answer can be complete: the
    /// shortest whole answer's length. (An answer whose varying words came out shorter
    /// still waits for its response timeout, and then passes the verdict gate like any
    /// short answer.)
    pub(crate) fn expected_len(&self) -> usize {
        self.shortest
    }

    /// The same, with durations counted as compared: what a split delivery's answer,
    /// counted by [`compared_len`](super::compared_len), must reach (a split answer says `(0.001 +
    /// 0.000 + 0.002 secs)` where the whole one says `(0.001 + 0.000 secs)`: longer, not
    /// more).
    pub(crate) fn expected_compared_len(&self) -> usize {
        self.shortest_compared
    }

    /// True when a split delivery waits for the server to close: the whole answer ended
    /// with a close, and always does.
    pub(crate) fn awaits_close(&self) -> bool {
        self.closed && !self.volatile.closing
    }
}

use super::volatile::Volatile;

/// The offset of the first byte where `a` and `b` differ (the shorter length if one is a
/// prefix of the other).
pub(crate) fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_the_offset() {
        assert_eq!(first_difference(b"abc", b"abd"), 2);
        assert_eq!(first_difference(b"abc", b"ab"), 2);
        assert_eq!(first_difference(b"", b"x"), 0);
        assert_eq!(first_difference(b"same", b"same"), 4);
    }
}

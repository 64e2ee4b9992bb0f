//! The noise model: what of one blob's answer varies by itself (a date, a request id, a
//! random token, records in rotating order, whether the server closes), learnt only from
//! the blob's own answers sent whole, as differential testing tells noise from signal by
//! two runs of the known-good input. A split delivery that differs only in noise has found
//! no boundary bug.
//!
//! Three views of an answer, each learnt from two whole answers that differ:
//! - **words**: runs of ASCII letters and digits, and every other byte on its own. Two
//!   answers with the same tokens in number and kind tell which words vary (a clock ticking
//!   from `12:59:59` to `13:00:00` changes three; an id going from `9` to `10` changes one,
//!   whatever its length);
//! - **bytes**: answers of one length whose words do not line up (binary protocols: a
//!   counter, a random scramble) tell which byte spans vary;
//! - **order**: a span whose bytes are the same but in another order (records rotated from
//!   one answer to the next) must only hold the same bytes.

use std::collections::BTreeSet;
use std::ops::Range;

/// Differing bytes this close together are taken as one varying span.
const SPAN_GAP: usize = 8;

/// How many bytes before a differing span vary with it: the rest of a 32-bit field in
/// network (big-endian) byte order.
const WIDEN: usize = 3;

/// What of one blob's answer varies by itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Volatile {
    /// Word positions that vary.
    tokens: BTreeSet<usize>,
    /// Byte spans that vary, for answers of one length.
    spans: Vec<Range<usize>>,
    /// Byte spans whose bytes come in varying order, for answers of one length.
    reordered: Vec<Range<usize>>,
    /// The server closes the connection after this answer some times and not others.
    pub(crate) closing: bool,
}

/// `bytes` cut into tokens: runs of ASCII letters and digits, and each other byte alone,
/// each with its offset.
fn tokens(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if start < i {
                out.push((start, &bytes[start..i]));
            }
            out.push((i, &bytes[i..=i]));
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push((start, &bytes[start..]));
    }
    out
}

fn is_word(token: &[u8]) -> bool {
    token.iter().all(u8::is_ascii_alphanumeric)
}

/// The spans of offsets where `a` and `b` (of one length) differ, runs closer than
/// [`SPAN_GAP`] merged.
fn differing_spans(a: &[u8], b: &[u8]) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    for i in (0..a.len()).filter(|&i| a[i] != b[i]) {
        match spans.last_mut() {
            Some(last) if i - last.end < SPAN_GAP => last.end = i + 1,
            _ => spans.push(i..i + 1),
        }
    }
    spans
}

fn same_bytes_in_any_order(a: &[u8], b: &[u8]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn add_span(spans: &mut Vec<Range<usize>>, span: Range<usize>) {
    spans.push(span);
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for s in spans.drain(..) {
        match merged.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => merged.push(s),
        }
    }
    *spans = merged;
}

impl Volatile {
    /// Learns from two answers to the same whole blob what varies between them. Returns
    /// false (learning nothing) when they cannot be lined up: another number of words or
    /// other delimiters, and another length.
    pub(crate) fn learn(&mut self, before: &[u8], after: &[u8]) -> bool {
        if before == after {
            return true;
        }
        let (a, b) = (tokens(before), tokens(after));
        if a.len() == b.len() {
            let mut varying = Vec::new();
            let lined_up = a.iter().zip(&b).enumerate().all(|(i, ((_, x), (_, y)))| {
                if x != y {
                    varying.push(i);
                }
                x == y || (is_word(x) && is_word(y))
            });
            if lined_up {
                self.tokens.extend(varying);
                if before.len() != after.len() {
                    return true;
                }
                // Of one length, the bytes are learnt too: random bytes that happened to
                // read as words here may not next time.
            }
        }
        if before.len() != after.len() {
            return false;
        }
        for span in differing_spans(before, after) {
            // A binary field (an id, a process id, a counter) seldom changes in all its
            // bytes between two answers: in network byte order its higher bytes, before
            // the ones that changed, vary too.
            let span = span.start.saturating_sub(WIDEN)..span.end;
            if same_bytes_in_any_order(&before[span.clone()], &after[span.clone()]) {
                add_span(&mut self.reordered, span);
            } else {
                add_span(&mut self.spans, span);
            }
        }
        true
    }

    /// True when nothing is known to vary.
    fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.spans.is_empty() && self.reordered.is_empty()
    }

    /// True when `actual` is `expected` but for what varies.
    #[cfg(test)]
    pub(crate) fn same(&self, expected: &[u8], actual: &[u8]) -> bool {
        self.counted_difference(expected, actual).is_none()
    }

    /// The offset in `expected` of the first difference from `actual` that is not noise,
    /// or `None` when they differ only in what varies.
    pub(crate) fn counted_difference(&self, expected: &[u8], actual: &[u8]) -> Option<usize> {
        let raw = super::first_difference(expected, actual);
        if expected == actual {
            return None;
        }
        if self.is_empty() {
            return Some(raw);
        }
        let by_words = self.words_difference(expected, actual);
        let by_bytes = self.bytes_difference(expected, actual);
        match (by_words, by_bytes) {
            (Some(None), _) | (_, Some(None)) => None,
            (Some(Some(a)), Some(Some(b))) => Some(a.min(b)),
            (Some(Some(a)), None) | (None, Some(Some(a))) => Some(a),
            (None, None) => Some(raw),
        }
    }

    /// Compared word by word: `None` when the words do not line up, else the first
    /// differing word that does not vary (`Some(None)` when there is none).
    fn words_difference(&self, expected: &[u8], actual: &[u8]) -> Option<Option<usize>> {
        if self.tokens.is_empty() {
            return None;
        }
        let (a, b) = (tokens(expected), tokens(actual));
        if a.len() != b.len() {
            return Some(Some(super::first_difference(expected, actual)));
        }
        Some(
            a.iter()
                .zip(&b)
                .enumerate()
                .find(|(i, ((_, x), (_, y)))| x != y && !self.tokens.contains(i))
                .map(|(_, ((at, _), _))| *at),
        )
    }

    /// Compared byte by byte (one length only): `None` when nothing was learnt that way or
    /// the lengths differ, else the first differing byte outside the varying spans.
    fn bytes_difference(&self, expected: &[u8], actual: &[u8]) -> Option<Option<usize>> {
        if (self.spans.is_empty() && self.reordered.is_empty()) || expected.len() != actual.len() {
            return None;
        }
        let varies = |i: usize| self.spans.iter().any(|s| s.contains(&i));
        let mut first = (0..expected.len()).find(|&i| {
            expected[i] != actual[i] && !varies(i) && !self.reordered.iter().any(|s| s.contains(&i))
        });
        for span in &self.reordered {
            let end = span.end.min(expected.len());
            let start = span.start.min(end);
            if !same_bytes_in_any_order(&expected[start..end], &actual[start..end]) {
                first = Some(first.map_or(start, |f| f.min(start)));
            }
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cut_into_words_and_single_bytes() {
        let words: Vec<&[u8]> = tokens(b"+OK t=12:59\r\n")
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(
            words,
            [
                &b"+"[..],
                b"OK",
                b" ",
                b"t",
                b"=",
                b"12",
                b":",
                b"59",
                b"\r",
                b"\n"
            ]
        );
        assert!(tokens(b"").is_empty());
    }

    #[test]
    fn a_ticking_clock_and_a_growing_id_are_learnt_and_ignored() {
        let mut volatile = Volatile::default();
        assert!(volatile.learn(b"+PONG at 12:59:59 id=9\n", b"+PONG at 13:00:00 id=10\n"));
        assert!(volatile.same(b"+PONG at 12:59:59 id=9\n", b"+PONG at 13:00:41 id=377\n"));
        // What does not vary still counts: another word, another delimiter, a missing line.
        assert!(!volatile.same(b"+PONG at 12:59:59 id=9\n", b"-ERR at 13:00:41 id=377\n"));
        assert!(!volatile.same(b"+PONG at 12:59:59 id=9\n", b"+PONG at 13:00:41 id=377\r"));
        assert!(!volatile.same(b"+PONG at 12:59:59 id=9\n", b"+PONG at 13:00:41\n"));
        assert_eq!(
            volatile.counted_difference(b"+PONG at 12:59:59 id=9\n", b"-ERR at 13:00:41 id=3\n"),
            Some(0)
        );
    }

    #[test]
    fn answers_of_another_shape_and_length_teach_nothing() {
        let mut volatile = Volatile::default();
        assert!(!volatile.learn(b"+OK\n", b"+OK\n+OK\n"));
        assert!(!volatile.learn(b"+OK 1\n", b"-ERR 1\n+OK\n"));
        assert!(!volatile.same(b"+OK 1\n", b"+OK 2\n"), "nothing was learnt");
        assert!(!volatile.same(b"+OK\n", b"+NO\n"));
    }

    #[test]
    fn a_binary_counter_and_a_random_scramble_are_learnt_as_byte_spans() {
        // A header, a 4-byte counter, a fixed middle, an 8-byte random scramble, a trailer.
        let answer = |counter: u32, scramble: [u8; 8]| {
            let mut a = vec![0x0a, 0x00, 0xff];
            a.extend_from_slice(&counter.to_le_bytes());
            a.extend_from_slice(b"\x00fixed middle part\x00");
            a.extend_from_slice(&scramble);
            a.extend_from_slice(b"\x00\x01");
            a
        };
        let first = answer(7, *b"a;b:c!d?");
        let mut volatile = Volatile::default();
        assert!(volatile.learn(&first, &answer(8, *b"z.y,x@w#")));
        assert!(volatile.same(&first, &answer(9, *b"q%r^s&t*")));
        let mut broken = answer(9, *b"q%r^s&t*");
        broken[12] = b'X'; // inside the fixed middle
        assert_eq!(volatile.counted_difference(&first, &broken), Some(12));
        assert!(!volatile.same(&first, &first[..first.len() - 1]));
    }

    #[test]
    fn a_process_id_and_key_new_on_every_connection_are_noise_in_all_their_bytes() {
        // PostgreSQL's BackendKeyData: 'K', a length, a big-endian process id, a random key;
        // then ReadyForQuery. Two whole answers differ in the id's low byte and the key,
        // whose bytes happen to read as words; a third crosses 256 in the id and draws
        // bytes that do not.
        let answer = |pid: u32, key: [u8; 4]| {
            let mut a = b"K\x00\x00\x00\x0c".to_vec();
            a.extend_from_slice(&pid.to_be_bytes());
            a.extend_from_slice(&key);
            a.extend_from_slice(b"Z\x00\x00\x00\x05I");
            a
        };
        let first = answer(0x392a, *b"4_4i");
        let mut volatile = Volatile::default();
        assert!(volatile.learn(&first, &answer(0x392b, *b"9x7Q")));
        assert!(volatile.same(&first, &answer(0x3a01, *b"\xb8<\xb0\x1c")));
        // The message type after them still counts.
        let mut broken = answer(0x3a01, *b"\xb8<\xb0\x1c");
        broken[13] = b'E';
        assert_eq!(volatile.counted_difference(&first, &broken), Some(13));
    }

    #[test]
    fn records_in_rotating_order_must_hold_the_same_bytes() {
        // Two address records (type, class, length, address), one answer and the next.
        let a = b"\x00\x02\x00\x01\x00\x04\x7f\x00\x00\x01\x00\x01\x00\x04\x7f\x00\x00\x02";
        let b = b"\x00\x02\x00\x01\x00\x04\x7f\x00\x00\x02\x00\x01\x00\x04\x7f\x00\x00\x01";
        let mut volatile = Volatile::default();
        assert!(volatile.learn(a, b));
        assert!(volatile.same(a, b));
        let twice = b"\x00\x02\x00\x01\x00\x04\x7f\x00\x00\x02\x00\x01\x00\x04\x7f\x00\x00\x02";
        assert!(!volatile.same(a, twice));
    }
}

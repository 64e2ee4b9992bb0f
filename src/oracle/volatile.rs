//! The parts of an answer that vary by themselves: a date, a request id, a session token.
//! A server whose answer to the same blob sent whole changes between two deliveries has
//! volatile parts, and a split delivery that differs only there has found no boundary bug.
//!
//! Answers are compared as tokens: runs of letters and digits, and every other byte on its
//! own. Two answers with the same tokens in number and kind tell which tokens vary (a clock
//! ticking from `12:59:59` to `13:00:00` changes three number tokens; an id going from `9` to
//! `10` changes one, whatever its length); those token positions are then ignored when a split
//! delivery's answer is compared with the whole-blob answer.

use std::collections::BTreeSet;

/// The token positions of one blob's answer that vary by themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Volatile {
    tokens: BTreeSet<usize>,
}

/// `bytes` cut into tokens: runs of ASCII letters and digits, and each other byte alone.
fn tokens(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if start < i {
                out.push(&bytes[start..i]);
            }
            out.push(&bytes[i..=i]);
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push(&bytes[start..]);
    }
    out
}

impl Volatile {
    /// Learns from two answers to the same whole blob: the alphanumeric tokens that differ
    /// vary by themselves. Returns false (learning nothing) when the two do not have the same
    /// shape (token count, and the same non-alphanumeric tokens), so no position can be
    /// matched up.
    pub(crate) fn learn(&mut self, before: &[u8], after: &[u8]) -> bool {
        let (a, b) = (tokens(before), tokens(after));
        if a.len() != b.len() {
            return false;
        }
        let mut varying = Vec::new();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x == y {
                continue;
            }
            let word = |t: &[u8]| t.iter().all(u8::is_ascii_alphanumeric);
            if !(word(x) && word(y)) {
                return false;
            }
            varying.push(i);
        }
        self.tokens.extend(varying);
        true
    }

    /// True when `actual` is `expected` but for the tokens that vary.
    pub(crate) fn same(&self, expected: &[u8], actual: &[u8]) -> bool {
        if expected == actual {
            return true;
        }
        if self.tokens.is_empty() {
            return false;
        }
        let (a, b) = (tokens(expected), tokens(actual));
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .enumerate()
                .all(|(i, (x, y))| x == y || self.tokens.contains(&i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cut_into_words_and_single_bytes() {
        assert_eq!(
            tokens(b"+OK t=12:59\r\n"),
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
    }

    #[test]
    fn answers_of_another_shape_teach_nothing() {
        let mut volatile = Volatile::default();
        assert!(!volatile.learn(b"+OK\n", b"+OK\n+OK\n"));
        assert!(!volatile.learn(b"+OK 1\n", b"-ERR 1\n+OK\n"));
        assert!(!volatile.learn(b"+a:b\n", b"+a;b\n"), "a delimiter changed");
        assert!(!volatile.same(b"+OK 1\n", b"+OK 2\n"), "nothing was learnt");
        assert!(!volatile.same(b"+OK\n", b"+NO\n"));
    }
}

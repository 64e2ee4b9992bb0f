//! Durations in text answers, masked before answers are compared. A server that reports how
//! long a command took (`A004 OK Fetch completed (0.001 + 0.000 secs).`), or how long it
//! waited for the rest of a command, answers a split command with other numbers, or one
//! more of them: the split made it wait. That is timing, not parsing, and the whole answers
//! alone seldom show it, so the noise model cannot learn it from them. A number (or a sum of
//! numbers) followed by a unit of time is compared as `<duration>`; a status word, a line, a
//! count or a length still counts.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::bytes::Regex;

/// What a duration is compared as.
const DURATION: &[u8] = b"<duration>";

/// Numbers (or a sum of them) with a unit of time after them: `0.003 secs`, `12ms`,
/// `(0.001 + 0.000 + 0.002 secs)`, `1.5s`. A bare `s` counts only after a decimal number
/// (`3s` may be a count of something).
static DURATIONS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?-u)\b\d+(?:\.\d+)?(?:\s*\+\s*\d+(?:\.\d+)?)*\s*(?:ns|us|\xC2\xB5s|ms|msecs?|millis(?:econds?)?|secs?|seconds?)\b|\b\d+\.\d+s\b",
    )
    .expect("the durations pattern is valid")
});

/// `bytes` with every duration replaced by `<duration>`.
pub(crate) fn masked(bytes: &[u8]) -> Cow<'_, [u8]> {
    DURATIONS.replace_all(bytes, DURATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::compared_len;

    fn mask(text: &str) -> String {
        String::from_utf8(masked(text.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn times_a_server_reports_are_masked_however_many_numbers_they_sum() {
        let whole = mask("A004 OK Fetch completed (0.001 + 0.000 secs).\r\n");
        let split = mask("A004 OK Fetch completed (0.003 + 0.000 + 0.002 secs).\r\n");
        assert_eq!(whole, "A004 OK Fetch completed (<duration>).\r\n");
        assert_eq!(whole, split);
        assert_eq!(
            mask("took 12ms, then 1.5s"),
            "took <duration>, then <duration>"
        );
        assert_eq!(mask("Query OK (0.00 sec)"), "Query OK (<duration>)");
        assert_eq!(mask("rtt 250 \u{b5}s"), "rtt <duration>");
    }

    #[test]
    fn a_split_answer_with_one_more_time_in_it_is_no_longer_as_compared() {
        // Counted raw, the split answer would reach the whole one's length a line early.
        let whole = b"+OK (0.000 + 0.000 secs)\n:0 (0.000 + 0.000 secs)\n";
        let split_first_line = b"+OK (0.000 + 0.000 + 0.001 secs)\n:0 (0.00";
        assert!(split_first_line.len() >= whole.len() - 8);
        assert!(compared_len(split_first_line) < compared_len(whole));
        assert_eq!(
            compared_len(b"+OK (0.000 + 0.000 + 0.001 secs)\n:0 (0.000 + 0.000 secs)\n"),
            compared_len(whole)
        );
    }

    #[test]
    fn other_numbers_words_and_lines_still_count() {
        for kept in [
            "A004 OK Fetch completed\r\n",
            "+OK 3 messages (1024 octets)\r\n",
            "VALUE key 0 5\r\nhello\r\nEND\r\n",
            "items: 3s",
            "A004 BAD Error in IMAP command\r\n",
            "expires=1700000000",
        ] {
            assert_eq!(mask(kept), kept);
        }
        // The status word differs, whatever the times.
        assert_ne!(
            mask("A004 OK Fetch completed (0.001 secs)."),
            mask("A004 BAD Fetch completed (0.001 secs).")
        );
    }
}

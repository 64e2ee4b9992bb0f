//! Text helpers for reports: escaped bytes with truncation markers, two answers shown around
//! their first difference, shell quoting.

use std::fmt::Write as _;

/// Bytes kept on each side of a long response in a report.
const BYTES_SHOWN: usize = 256;

/// `bytes` escaped as an ASCII string literal (`"+OK\r\n"`), its middle left out with a
/// marker when it is long.
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
    let quoted = |b: &[u8]| b.escape_ascii().to_string();
    if bytes.len() <= 2 * BYTES_SHOWN {
        return format!("\"{}\"", quoted(bytes));
    }
    let omitted = bytes.len() - 2 * BYTES_SHOWN;
    format!(
        "\"{}\" ... {omitted} bytes omitted ... \"{}\"",
        quoted(&bytes[..BYTES_SHOWN]),
        quoted(&bytes[bytes.len() - BYTES_SHOWN..])
    )
}

/// Bytes shown on each side of the first difference of two answers.
const AROUND: usize = 120;

/// Two answers shown around their first difference `at`: each as a window of the same bytes
/// (`AROUND` either side, widened to whole lines where they are short), escaped, with what
/// lies outside left out with its length, and a third line whose `^` points at the first
/// differing byte in both. Binary answers (mostly bytes that are not text) are shown as
/// hex, 16 bytes a row, from the row before the difference to the row after.
pub(crate) fn difference_window(expected: &[u8], actual: &[u8], at: usize) -> Vec<String> {
    let binary = |b: &[u8]| {
        let window = &b[at.min(b.len()).saturating_sub(AROUND)..(at + AROUND).min(b.len())];
        let odd = window
            .iter()
            .filter(|&&c| !(c.is_ascii_graphic() || c == b' ' || c.is_ascii_whitespace()))
            .count();
        odd * 4 > window.len()
    };
    if binary(expected) || binary(actual) {
        return hex_rows(expected, actual, at);
    }
    let mut start = at.saturating_sub(AROUND);
    // Start at a line start when there is one in the window.
    if let Some(nl) = expected[start..at.min(expected.len())]
        .iter()
        .position(|&b| b == b'\n')
        && start > 0
    {
        start += nl + 1;
    }
    let show = |bytes: &[u8]| -> (String, usize) {
        let end = (at + AROUND).min(bytes.len());
        let from = start.min(bytes.len());
        let mut line = String::new();
        if from > 0 {
            let _ = write!(line, "…({from} bytes)…");
        }
        line.push('"');
        let before = bytes[from..at.min(bytes.len())].escape_ascii().to_string();
        let column = line.chars().count() + before.chars().count();
        line.push_str(&before);
        if at < end {
            line.push_str(&bytes[at..end].escape_ascii().to_string());
        }
        line.push('"');
        if end < bytes.len() {
            let _ = write!(line, "…({} bytes)…", bytes.len() - end);
        } else if at >= bytes.len() {
            line.push_str(" (the answer ends here)");
        }
        (line, column)
    };
    let (whole, column) = show(expected);
    let (split, _) = show(actual);
    vec![
        format!("  whole: {whole}"),
        format!("  split: {split}"),
        format!("         {}^ byte {at}", " ".repeat(column)),
    ]
}

/// Both answers as hex rows of 16 bytes around `at`, the rows that differ marked.
fn hex_rows(expected: &[u8], actual: &[u8], at: usize) -> Vec<String> {
    let first = (at / 16).saturating_sub(1) * 16;
    let last = (at / 16 + 2) * 16;
    let row = |bytes: &[u8], offset: usize| -> String {
        let end = (offset + 16).min(bytes.len());
        if offset >= end {
            return "(ended)".to_owned();
        }
        bytes[offset..end]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut lines = Vec::new();
    for offset in (first..last).step_by(16) {
        if offset >= expected.len().max(actual.len()) {
            break;
        }
        let mark = if row(expected, offset) == row(actual, offset) {
            ' '
        } else {
            '!'
        };
        lines.push(format!(
            "  {mark} {offset:>8}  whole: {}",
            row(expected, offset)
        ));
        lines.push(format!(
            "  {mark} {offset:>8}  split: {}",
            row(actual, offset)
        ));
    }
    lines
}

/// When two answers differ at `at` only in the digits of one word (`0.001` and `0.003`, a
/// port, a process id), a regular expression for that word with any digits: a ready
/// `--mask` for a part that varies by itself. `None` when they differ otherwise.
pub(crate) fn digits_mask(expected: &[u8], actual: &[u8], at: usize) -> Option<String> {
    let word = |b: &u8| b.is_ascii_alphanumeric() || b"._:-=/".contains(b);
    let span = |bytes: &[u8]| -> Option<(usize, usize)> {
        if at > bytes.len() {
            return None;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|b| !word(b))
            .map_or(0, |i| i + 1);
        let end = at
            + bytes[at..]
                .iter()
                .position(|b| !word(b))
                .unwrap_or(bytes.len() - at);
        Some((start, end))
    };
    let (es, ee) = span(expected)?;
    let (as_, ae) = span(actual)?;
    // The same bytes around the word, and the same word but for its digits.
    if expected[..es] != actual[..as_] || expected[ee..] != actual[ae..] {
        return None;
    }
    let shape = |w: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        for &b in w {
            if b.is_ascii_digit() {
                if out.last() != Some(&b'#') {
                    out.push(b'#');
                }
            } else {
                out.push(b);
            }
        }
        out
    };
    let (ew, aw) = (&expected[es..ee], &actual[as_..ae]);
    if !ew.iter().any(u8::is_ascii_digit) || shape(ew) != shape(aw) {
        return None;
    }
    let mut pattern = String::new();
    for piece in String::from_utf8_lossy(&shape(ew)).split('#').enumerate() {
        if piece.0 > 0 {
            pattern.push_str(r"\d+");
        }
        pattern.push_str(&regex::escape(piece.1));
    }
    // Digits alone would mask every number of the answer: too broad to offer.
    (pattern != r"\d+").then_some(pattern)
}

/// Quotes `text` for a POSIX shell (single quotes).
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_responses_are_escaped_and_cut_in_the_middle() {
        assert_eq!(escape_bytes(b"+OK\r\n"), "\"+OK\\r\\n\"");
        let long = vec![b'a'; 1000];
        let text = escape_bytes(&long);
        assert!(text.contains("... 488 bytes omitted ..."), "{text}");
        assert_eq!(text.matches('a').count(), 512);
    }

    #[test]
    fn a_difference_deep_in_a_long_answer_is_shown_in_a_window_with_a_caret() {
        let mut whole = Vec::new();
        for i in 0..1000 {
            whole.extend_from_slice(format!("line {i:04} of the answer\n").as_bytes());
        }
        let mut split = whole.clone();
        let at = 20_000 + 5;
        split[at] = b'X';
        let lines = difference_window(&whole, &split, at);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].starts_with("  whole: …(19"), "{lines:#?}");
        assert!(lines[0].contains("bytes)…"), "{lines:#?}");
        assert!(lines[0].len() < 400, "a window, not a dump: {}", lines[0]);
        // The caret stands under the byte that differs, in both lines.
        let column = lines[2].find('^').unwrap();
        let char_at = |line: &str| line.chars().nth(column).unwrap();
        assert_eq!(char_at(&lines[1]), 'X', "{lines:#?}");
        assert_ne!(char_at(&lines[0]), 'X', "{lines:#?}");
        assert!(lines[2].ends_with(&format!("^ byte {at}")));
        // The window starts at a line start.
        assert!(lines[0].contains("…\"line "), "{lines:#?}");
    }

    #[test]
    fn a_short_answer_is_shown_whole_and_a_binary_one_as_hex() {
        let lines = difference_window(b"PONG\n", b"ERR bad\n", 0);
        assert_eq!(lines[0], "  whole: \"PONG\\n\"");
        assert_eq!(lines[1], "  split: \"ERR bad\\n\"");
        assert_eq!(lines[2], "          ^ byte 0");
        let whole: Vec<u8> = (0..64u8).collect();
        let mut split = whole.clone();
        split[40] = 0xff;
        let lines = difference_window(&whole, &split, 40);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("  !       32  split:") && l.contains("ff")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("          16  whole:")),
            "{lines:#?}"
        );
    }

    #[test]
    fn an_answer_that_ends_where_the_other_goes_on_says_so() {
        let whole = b"+OK\n+first\n+second\n";
        let lines = difference_window(whole, b"+OK\n", 4);
        assert_eq!(lines[1], r#"  split: "+OK\n" (the answer ends here)"#);
        assert!(!lines[0].contains("ends here"), "{lines:?}");
    }

    #[test]
    fn answers_that_differ_in_the_digits_of_one_word_get_a_mask() {
        let whole = b"A004 OK Fetch completed (0.001 + 0.000 secs).\r\n";
        let split = b"A004 OK Fetch completed (0.003 + 0.000 secs).\r\n";
        let at = whole.iter().zip(split).position(|(a, b)| a != b).unwrap();
        assert_eq!(digits_mask(whole, split, at).as_deref(), Some(r"\d+\.\d+"));
        assert_eq!(
            digits_mask(b"pid=12 ok", b"pid=3456 ok", 4).as_deref(),
            Some(r"pid=\d+")
        );
        assert_eq!(digits_mask(b"+PONG\n", b"-ERR x\n", 0), None);
        assert_eq!(
            digits_mask(b"took 12 ms", b"took 3 ms", 5),
            None,
            "too broad"
        );
        assert_eq!(digits_mask(b"v1 ok", b"v2 no", 1), None, "more differs");
    }

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("v1:a:1"), "'v1:a:1'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

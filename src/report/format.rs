//! Text helpers for reports: escaped server output with truncation markers.

use std::fmt::Write;

use crate::server::OutputSnapshot;

/// The server's output as indented lines (`  | `), control bytes escaped, with a marker
/// where bytes were left out.
pub(crate) fn format_output(output: &OutputSnapshot) -> String {
    let mut text = String::new();
    if output.omitted == 0 {
        // Head and tail are contiguous: join them so no line is cut in two.
        push_lines(&mut text, &[&output.head[..], &output.tail[..]].concat());
        return text;
    }
    push_lines(&mut text, &output.head);
    let _ = writeln!(text, "  | ... {} bytes omitted ...", output.omitted);
    push_lines(&mut text, &output.tail);
    text
}

fn push_lines(text: &mut String, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let lossy = String::from_utf8_lossy(bytes);
    for line in lossy.trim_end_matches('\n').split('\n') {
        text.push_str("  | ");
        for c in line.chars() {
            if c.is_control() && c != '\t' {
                let _ = write!(text, "{}", c.escape_default());
            } else {
                text.push(c);
            }
        }
        text.push('\n');
    }
}

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

/// Quotes `text` for a POSIX shell (single quotes).
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_indented_escaped_and_marked() {
        let out = OutputSnapshot {
            head: b"start\x1b[31m\n".to_vec(),
            omitted: 42,
            tail: b"end\n".to_vec(),
        };
        assert_eq!(
            format_output(&out),
            "  | start\\u{1b}[31m\n  | ... 42 bytes omitted ...\n  | end\n"
        );
    }

    #[test]
    fn contiguous_head_and_tail_keep_lines_whole() {
        let out = OutputSnapshot {
            head: b"one li".to_vec(),
            omitted: 0,
            tail: b"ne\ntwo\n".to_vec(),
        };
        assert_eq!(format_output(&out), "  | one line\n  | two\n");
    }

    #[test]
    fn long_responses_are_escaped_and_cut_in_the_middle() {
        assert_eq!(escape_bytes(b"+OK\r\n"), "\"+OK\\r\\n\"");
        let long = vec![b'a'; 1000];
        let text = escape_bytes(&long);
        assert!(text.contains("... 488 bytes omitted ..."), "{text}");
        assert_eq!(text.matches('a').count(), 512);
    }

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("v1:a:1"), "'v1:a:1'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

//! Text helpers for reports: escaped bytes with truncation markers, shell quoting.

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

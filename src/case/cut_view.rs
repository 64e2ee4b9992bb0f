//! A case shown on its bytes: what a report prints so that a person sees *what* was cut
//! without rebuilding the blob and counting offsets. The bytes are escaped as Rust's
//! `escape_debug` escapes characters (`\r`, `\n`, `\0`; a byte that is no character as
//! `\xNN`; a literal `|` as `\|`), every cut is a `|`, and long stretches away from any cut
//! are left out with their length, so a cut deep in a large blob shows the bytes around it.
//! Where a conversation starts TLS (`#~ tls`), the view says `<TLS>` (a boundary too): the
//! bytes after it went inside TLS, each chunk its own record.

use std::fmt::Write as _;

use super::Case;
use crate::corpus::tls_at;
use crate::split::Splits;

/// What stands where a conversation starts TLS.
pub(crate) const TLS_MARK: &str = "<TLS>";

/// What a report says after a view: what its marks mean.
pub(crate) fn legend(view: &str) -> &'static str {
    match (view.contains(TLS_MARK), view.contains("\\|")) {
        (true, true) => r"(each | is a cut, \| a | of the data; TLS starts at <TLS>)",
        (true, false) => "(each | is a cut; TLS starts at <TLS>)",
        (false, true) => r"(each | is a cut, \| a | of the data)",
        (false, false) => "(each | is a cut)",
    }
}

/// `bytes` as `case` cuts them ([`cut_view_at`]), with where it starts TLS, if it does.
pub(crate) fn case_view(bytes: &[u8], case: &Case) -> String {
    view(bytes, case.splits(), tls_at(case.waits()))
}

/// Bytes kept on each side of a cut, and at the start of the blob.
const CONTEXT: usize = 24;
/// A case that sends at most this many bytes is shown whole.
const WHOLE: usize = 160;

/// `bytes` as `splits` cuts them, quoted: `"P|ING\r\n"`. A case that sends less than the
/// whole blob says so: `"SE|T"` (sent 4 of 82 bytes, then closed). With `tls_at`, [`TLS_MARK`] stands where TLS started: a client's answers, which the
/// harness served inside TLS from there on.
pub(crate) fn cut_view_at(bytes: &[u8], splits: &Splits, tls_at: Option<usize>) -> String {
    view(bytes, splits, tls_at)
}

/// The view, with [`TLS_MARK`] before the byte at `tls_at`.
fn view(bytes: &[u8], splits: &Splits, tls_at: Option<usize>) -> String {
    let sent = splits.total().min(bytes.len());
    let mut cuts = Vec::with_capacity(splits.len());
    let mut at = 0;
    for chunk in splits.chunks() {
        at += chunk;
        if at < sent {
            cuts.push(at);
        }
    }
    let shown = |i: usize| {
        sent <= WHOLE || i < CONTEXT || cuts.iter().any(|&c| i + CONTEXT >= c && i < c + CONTEXT)
    };
    let mut out = String::from("\"");
    let mut next_cut = cuts.iter().peekable();
    let mut left_out = 0;
    let mut i = 0;
    while i < sent {
        if next_cut.peek().is_some_and(|&&c| c == i) {
            next_cut.next();
            flush_left_out(&mut out, &mut left_out);
            // The handshake is a boundary too: its mark stands for the bar.
            out.push_str(if tls_at == Some(i) { TLS_MARK } else { "|" });
        } else if tls_at == Some(i) {
            flush_left_out(&mut out, &mut left_out);
            out.push_str(TLS_MARK);
        }
        // A character of several bytes is shown as one, unless a cut falls inside it.
        let until = next_cut.peek().map_or(sent, |&&c| c);
        let (text, len) = char_at(&bytes[i..until]);
        if shown(i) {
            flush_left_out(&mut out, &mut left_out);
            escape(text, bytes[i], &mut out);
        } else {
            left_out += len;
        }
        i += len;
    }
    flush_left_out(&mut out, &mut left_out);
    out.push('"');
    if sent < bytes.len() {
        let _ = write!(out, " (sent {sent} of {} bytes, then closed)", bytes.len());
    }
    out
}

fn flush_left_out(out: &mut String, left_out: &mut usize) {
    if *left_out > 0 {
        let _ = write!(out, "…({left_out} bytes)…");
        *left_out = 0;
    }
}

/// The character `bytes` begin with, and its length in bytes: `None` (one byte) where they
/// do not begin with a whole UTF-8 character.
fn char_at(bytes: &[u8]) -> (Option<char>, usize) {
    let len = match bytes.first() {
        Some(0xc0..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf7) => 4,
        _ => 1,
    };
    match bytes.get(..len).map(std::str::from_utf8) {
        Some(Ok(text)) => (text.chars().next(), len),
        _ => (None, 1),
    }
}

/// A character as Rust's `escape_debug` shows it (a byte that is no character as `\xNN`),
/// with `|` escaped: it marks the cuts.
fn escape(text: Option<char>, byte: u8, out: &mut String) {
    match text {
        Some('|') => out.push_str("\\|"),
        Some(c) => {
            let _ = write!(out, "{}", c.escape_debug());
        }
        None => {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(bytes: &[u8], chunks: &[usize]) -> String {
        cut_view_at(bytes, &Splits::new(chunks.to_vec()).unwrap(), None)
    }

    #[test]
    fn each_cut_is_a_bar_at_its_byte() {
        assert_eq!(view(b"PING\r\n", &[1, 5]), r#""P|ING\r\n""#);
        assert_eq!(
            view(b"USER anonymous\r\nPASS x\r\n", &[1, 16, 7]),
            r#""U|SER anonymous\r\nP|ASS x\r\n""#
        );
        assert_eq!(view(b"PING\r\n", &[6]), r#""PING\r\n""#, "sent whole");
    }

    #[test]
    fn bars_quotes_and_binary_bytes_are_escaped() {
        assert_eq!(view(b"a|b\"c\\", &[2, 4]), r#""a\||b\"c\\""#);
        assert_eq!(
            legend(&view(b"a|b", &[2])),
            r"(each | is a cut, \| a | of the data)"
        );
        assert_eq!(view(&[0, 0xff, b'A'], &[1, 2]), r#""\0|\xffA""#);
        // Characters as escape_debug shows them, unless a cut falls inside one.
        assert_eq!(view("né|".as_bytes(), &[1, 3]), r#""n|é\|""#);
        assert_eq!(view("é".as_bytes(), &[1, 1]), r#""\xc3|\xa9""#);
    }

    #[test]
    fn where_a_conversation_starts_tls_is_marked() {
        let blob = b"STARTTLS\nSET k v\n";
        let case: Case = "v2:starttls:9,1,7;waits=pattern=OK@9,tls@9;tls"
            .parse()
            .unwrap();
        let text = case_view(blob, &case);
        assert_eq!(text, r#""STARTTLS\n<TLS>S|ET k v\n""#);
        assert_eq!(legend(&text), "(each | is a cut; TLS starts at <TLS>)");
        assert_eq!(legend(&view(blob, &[9, 8])), "(each | is a cut)");
    }

    #[test]
    fn a_case_that_closes_early_says_how_much_it_sent() {
        assert_eq!(
            view(b"SET k v\r\n", &[2]),
            r#""SE" (sent 2 of 9 bytes, then closed)"#
        );
    }

    #[test]
    fn long_stretches_away_from_the_cuts_are_left_out_with_their_length() {
        let mut blob = vec![b'a'; 200_000];
        blob[150_000] = b'X';
        let text = view(&blob, &[150_000, 50_000]);
        let a24 = "a".repeat(24);
        assert_eq!(
            text,
            format!(
                "\"{a24}…(149952 bytes)…{a24}|X{}…(49976 bytes)…\"",
                "a".repeat(23)
            )
        );
        assert!(text.len() < 200, "a window, not a dump: {text}");
    }
}

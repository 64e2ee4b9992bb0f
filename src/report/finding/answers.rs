//! The answers a report shows: two that differ, around their first difference (as their
//! protocol's frames say, for HTTP/2 and WebSocket), or the one that held a protocol failure.

use std::fmt;

use crate::oracle::FindingKind;
use crate::report::format::{difference_window, digits_mask, escape_bytes, shell_quote};

/// The two answers of a finding about an answer: around their first difference, or in
/// full (long ones cut in the middle) when they differ only in how the connection ended.
pub(super) fn write_answers(
    f: &mut fmt::Formatter<'_>,
    kind: &FindingKind,
    whose: &str,
) -> fmt::Result {
    if let FindingKind::ProtocolFailure {
        protocol, answer, ..
    } = kind
    {
        return write_failed_answer(f, protocol, answer, whose);
    }
    let FindingKind::ResponseDiffers {
        expected,
        actual,
        first_difference,
        decoded,
        ..
    } = kind
    else {
        return Ok(());
    };
    writeln!(f)?;
    let (so, read) = match decoded {
        Some(protocol) => (
            " so read",
            format!(", {}", crate::oracle::read_as(protocol)),
        ),
        None => ("", String::new()),
    };
    match first_difference {
        Some(at) => {
            writeln!(
                f,
                "the response to the blob sent whole ({} bytes{so}) and to {whose} ({} bytes{so}){read}, from the first byte that differs:",
                expected.len(),
                actual.len()
            )?;
            for line in difference_window(expected, actual, *at) {
                writeln!(f, "{line}")?;
            }
            write_notes(f, (expected, actual), *at, *decoded)?;
        }
        None => {
            writeln!(
                f,
                "response to the blob sent whole ({} bytes):",
                expected.len()
            )?;
            writeln!(f, "  {}", escape_bytes(expected))?;
            writeln!(f, "response to {whose} ({} bytes):", actual.len())?;
            writeln!(f, "  {}", escape_bytes(actual))?;
        }
    }
    Ok(())
}

/// What a reader of two answers differing from byte `at` should know besides: how many
/// bytes they end with alike (where the window leaves the ends out), how a framed answer
/// was read, and a ready mask when they differ only in the digits of one word.
fn write_notes(
    f: &mut fmt::Formatter<'_>,
    (expected, actual): (&[u8], &[u8]),
    at: usize,
    decoded: Option<&str>,
) -> fmt::Result {
    let same_end = expected
        .iter()
        .rev()
        .zip(actual.iter().rev())
        .take_while(|(a, b)| a == b)
        .count()
        .min(expected.len().min(actual.len()) - at);
    let cut_short = expected.len().max(actual.len()) > at + 240;
    if same_end > 0 && cut_short {
        let bytes = if same_end == 1 { "byte" } else { "bytes" };
        writeln!(f, "  and both end with the same {same_end} {bytes}")?;
    }
    if let Some(protocol) = decoded {
        let (read_as, reading) = (
            crate::oracle::read_as(protocol),
            crate::oracle::reading(protocol),
        );
        writeln!(f, "  ({read_as}: {reading})")?;
    }
    if let Some(mask) = digits_mask(expected, actual, at) {
        let quoted = shell_quote(&mask);
        writeln!(
            f,
            "note: they differ only in the digits of one word; if that part varies by itself \
             (a time, a port, an id), leave it out: --mask {quoted} or \
             .oracle(AnswerOracle::default().mask(r\"{mask}\"))"
        )?;
    }
    Ok(())
}

/// Lines of an answer shown at most; the middle of a longer one is left out.
const ANSWER_LINES: usize = 40;

/// The answer that held a protocol failure, as its frames say, one escaped line each.
fn write_failed_answer(
    f: &mut fmt::Formatter<'_>,
    protocol: &str,
    answer: &[u8],
    whose: &str,
) -> fmt::Result {
    writeln!(f)?;
    writeln!(
        f,
        "the response to {whose}, {} ({}):",
        crate::oracle::read_as(protocol),
        crate::oracle::reading(protocol)
    )?;
    let lines: Vec<&[u8]> = answer
        .strip_suffix(b"\n")
        .unwrap_or(answer)
        .split(|&b| b == b'\n')
        .collect();
    let keep = ANSWER_LINES / 2;
    for (i, line) in lines.iter().enumerate() {
        if lines.len() > ANSWER_LINES && i == keep {
            writeln!(f, "  …({} lines)…", lines.len() - 2 * keep)?;
        }
        if lines.len() <= ANSWER_LINES || i < keep || i >= lines.len() - keep {
            writeln!(f, "  {}", line.escape_ascii())?;
        }
    }
    Ok(())
}

//! What tells one bug from another in a run that keeps going: a finding's kind, and what
//! locates it when the evidence has it. A crash is located by the first place in the
//! server's own output that names code (a Rust panic's `file:line`, a sanitizer's first
//! frame); an answer that differs, a hang or a failed check by the request record where the
//! case is cut, reduced to its command word (`SET …`): the same bug met in several blobs, or
//! with other arguments, is one finding; two crash sites are two.

use crate::case::Case;
use crate::oracle::FindingKind;
use crate::server::ServerSummary;

/// The signature of a finding of `kind`, from what the server printed (`output`) and the
/// best case known (`case`, a cut of `blob`).
pub(crate) fn of(
    kind: &FindingKind,
    output: Option<&ServerSummary>,
    case: Option<(&Case, &[u8])>,
) -> String {
    let printed = output.map(printed_text).unwrap_or_default();
    let located = |what: String| match location(&printed) {
        Some(at) => format!("{what} at {at}"),
        None => what,
    };
    match kind {
        // `was killed by SIGABRT`, `exited with status 3`.
        FindingKind::ServerDied { status } => located(crate::server::describe_exit(*status)),
        FindingKind::ServerTaskEnded { panic } => match panic {
            Some(message) => format!("in-process server panicked: {}", fold_digits(message)),
            None => "in-process server returned".to_owned(),
        },
        FindingKind::OutputMatched { pattern, .. } => located(format!("printed {pattern:?}")),
        FindingKind::ConnectRefused { .. } => "refused a connection".to_owned(),
        FindingKind::ConnectTimeout { .. } => "stopped accepting".to_owned(),
        FindingKind::ServerStoppedReading { .. } => "stopped reading".to_owned(),
        FindingKind::StoppedServingOthers { .. } => "stopped serving others".to_owned(),
        FindingKind::ResponseDiffers { .. } => format!("answer differs{}", record_of(case)),
        FindingKind::NoResponse { .. } => format!("no answer{}", record_of(case)),
        FindingKind::CheckFailed { message } => {
            format!("check failed: {}{}", fold_digits(message), record_of(case))
        }
    }
}

/// Everything the server printed that a report keeps, stderr first.
fn printed_text(summary: &ServerSummary) -> String {
    let mut text = String::new();
    for stream in [&summary.stderr, &summary.stdout] {
        text.push_str(&String::from_utf8_lossy(&stream.head));
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&stream.tail));
        text.push('\n');
    }
    text
}

/// The first place in the server's own code the output names: a Rust panic's `file:line`,
/// else a sanitizer's or valgrind's first frame (its function and `file:line`, addresses
/// left out).
fn location(printed: &str) -> Option<String> {
    for line in printed.lines() {
        if let Some(at) = line.find("panicked at ") {
            let rest = &line[at + "panicked at ".len()..];
            let place = rest.trim_end_matches(':');
            // `src/main.rs:42:5` to `src/main.rs:42`.
            let mut parts = place.rsplitn(3, ':');
            let (_column, line_no, file) = (parts.next(), parts.next(), parts.next());
            return Some(match (file, line_no) {
                (Some(file), Some(line_no)) => format!("{file}:{line_no}"),
                _ => place.to_owned(),
            });
        }
    }
    printed.lines().find_map(|line| {
        let frame = line.trim_start();
        // `#0 0x55d4 in parse_header src/parse.c:42:7` (sanitizers), `at 0x4C2: f (x.c:9)`.
        let rest = frame.strip_prefix("#0 ")?;
        let after = rest.split_once(" in ")?.1;
        let mut words = after.split_whitespace();
        let function = words.next()?;
        let place = words.next().map(|p| {
            let mut parts = p.rsplitn(3, ':');
            let (last, second) = (parts.next(), parts.next());
            match (parts.next(), second, last) {
                (Some(file), Some(line_no), _) => format!("{file}:{line_no}"),
                _ => p.to_owned(),
            }
        });
        Some(match place {
            Some(place) => format!("{function} ({place})"),
            None => function.to_owned(),
        })
    })
}

/// ` in <shape of the record the case first cuts>`, when a case and its blob are known.
fn record_of(case: Option<(&Case, &[u8])>) -> String {
    let Some((case, blob)) = case else {
        return String::new();
    };
    let Some(cut) = case.splits().boundaries().next() else {
        return String::new();
    };
    let start = blob[..cut.min(blob.len())]
        .iter()
        .rposition(|&b| b == b'\n' || b == 0)
        .map_or(0, |i| i + 1);
    let end = blob[cut.min(blob.len())..]
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .map_or(blob.len(), |i| cut + i);
    format!(" in {}", shape(&blob[start..end]))
}

/// A request record reduced to its shape: its command word as it is, and `…` when
/// arguments follow (whatever they are and however many: one bug met with other arguments
/// is the same bug); a record that is not text, `<binary>`.
pub(crate) fn shape(record: &[u8]) -> String {
    let text = String::from_utf8_lossy(record);
    let text = text.trim_end_matches('\r');
    if text
        .chars()
        .any(|c| c.is_control() && c != '\t' || c == char::REPLACEMENT_CHARACTER)
    {
        return "<binary>".to_owned();
    }
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return "<empty>".to_owned();
    };
    match words.next() {
        Some(_) => format!("{first} …"),
        None => first.to_owned(),
    }
}

/// `text` with each run of digits as `<n>`.
fn fold_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push_str("<n>");
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::OutputSnapshot;
    use std::os::unix::process::ExitStatusExt;

    fn died(signal: i32) -> FindingKind {
        FindingKind::ServerDied {
            status: std::process::ExitStatus::from_raw(signal),
        }
    }

    fn printed(stderr: &str) -> ServerSummary {
        ServerSummary {
            command: "srv".to_owned(),
            pid: None,
            stdout: OutputSnapshot::default(),
            stderr: OutputSnapshot {
                head: stderr.as_bytes().to_vec(),
                ..OutputSnapshot::default()
            },
        }
    }

    #[test]
    fn crashes_are_told_apart_by_where_the_server_says_it_crashed() {
        let a = printed("thread 'main' panicked at src/parse.rs:42:9:\nindex out of bounds\n");
        let b = printed("thread 'w' panicked at src/frame.rs:7:1:\nattempt to subtract\n");
        let again = printed("thread 'x' panicked at src/parse.rs:42:9:\nindex 7 out of 3\n");
        let sig = |s: &ServerSummary| of(&died(6), Some(s), None);
        assert_eq!(sig(&a), "was killed by SIGABRT at src/parse.rs:42");
        assert_ne!(sig(&a), sig(&b));
        assert_eq!(sig(&a), sig(&again));
        let asan = printed(
            "==1==ERROR: AddressSanitizer: heap-buffer-overflow\n    #0 0x55d4a1 in parse_header src/parse.c:42:7\n    #1 0x55d4b2 in main src/main.c:9:3\n",
        );
        assert_eq!(
            of(&died(6), Some(&asan), None),
            "was killed by SIGABRT at parse_header (src/parse.c:42)"
        );
    }

    #[test]
    fn a_wrong_answer_is_located_by_the_shape_of_the_record_the_case_cuts() {
        let kind = FindingKind::ResponseDiffers {
            expected: b"+OK\n".to_vec(),
            actual: b"-ERR\n".to_vec(),
            first_difference: Some(0),
            expected_closed: false,
            actual_closed: false,
        };
        let one = b"PING\nSET counter 1\nGET counter\n";
        let other = b"SET session:7 alice\nQUIT\n";
        let a: Case = "v1:one:7,24".parse().unwrap(); // cuts "SE|T counter 1"
        let b: Case = "v1:other:2,22".parse().unwrap(); // cuts "SE|T session:7 alice"
        let c: Case = "v1:one:1,29".parse().unwrap(); // cuts "P|ING"
        let sig = |case: &Case, blob: &[u8]| of(&kind, None, Some((case, blob)));
        // One bug, met with other arguments: one signature.
        assert_eq!(sig(&a, one), "answer differs in SET …");
        assert_eq!(sig(&b, other), "answer differs in SET …");
        assert_eq!(sig(&c, one), "answer differs in PING");
        assert_eq!(shape(b"\x00\x01\x02"), "<binary>");
    }
}

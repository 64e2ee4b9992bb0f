//! What tells one bug from another in a run that keeps going: a finding's kind, and what
//! locates it when the evidence has it. A crash is located by the first place in the
//! server's own output that names code (a Rust panic's `file:line`, a sanitizer's first
//! frame); an answer that differs, a hang or a failed check by the request record where the
//! case is cut, reduced to its command word (`SET ...`): the same bug met in several blobs, or
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
            Some(message) => format!("in-process server panicked: {}", fold_message(message)),
            None => "in-process server returned".to_owned(),
        },
        FindingKind::OutputMatched { pattern, .. } => located(format!("printed {pattern:?}")),
        FindingKind::ConnectRefused { .. } => "refused a connection".to_owned(),
        FindingKind::ConnectTimeout { .. } => "stopped accepting".to_owned(),
        FindingKind::ServerStoppedReading { .. } => "stopped reading".to_owned(),
        FindingKind::StoppedServingOthers { .. } => "stopped serving others".to_owned(),
        FindingKind::ResponseDiffers { .. } => format!("answer differs{}", record_of(case)),
        // The frame and its code: one broken parser answers every cut that breaks it so.
        FindingKind::ProtocolFailure {
            protocol,
            what,
            code,
            ..
        } => crate::oracle::describe_protocol_failure(protocol, what, *code),
        FindingKind::NoResponse { .. } => format!("no answer{}", record_of(case)),
        FindingKind::CheckFailed { message } => {
            format!("check failed: {}{}", fold_message(message), record_of(case))
        }
    }
}

/// Everything the server printed that a report keeps, stderr first.
fn printed_text(summary: &ServerSummary) -> String {
    let mut text = String::new();
    for stream in [&summary.stderr, &summary.stdout] {
        text.push_str(&stream.text());
        text.push('\n');
    }
    text
}

/// The first place in the program's own code its output names: a Rust panic's
/// `file:line`, else a sanitizer's first frame (its function and `file:line`, addresses left
/// out), a Python traceback's innermost frame outside the standard library, a Node or Java
/// trace's first frame outside the runtime.
pub(crate) fn location(printed: &str) -> Option<String> {
    rust_panic(printed)
        .or_else(|| sanitizer_frame(printed))
        .or_else(|| python_frame(printed))
        .or_else(|| at_frame(printed))
}

/// Every place in a program's own code its output names (each Rust panic's, each
/// sanitizer report's first frame, a trace's frame): a crash elsewhere is another bug.
pub(crate) fn places(summary: &ServerSummary) -> Vec<String> {
    let printed = printed_text(summary);
    // Each Python traceback's frame, not only the first's: a server may print handled
    // exceptions before the one it dies of.
    let tracebacks = printed
        .match_indices("Traceback (most recent call last):")
        .filter_map(|(at, _)| python_frame(&printed[at..]));
    let mut places: Vec<String> = printed
        .lines()
        .filter_map(|line| rust_panic(line).or_else(|| sanitizer_frame(line)))
        .chain(tracebacks)
        .chain(at_frame(&printed))
        .collect();
    places.sort();
    places.dedup();
    places
}

/// `src/main.rs:42` of `thread 'main' panicked at src/main.rs:42:5:`.
fn rust_panic(printed: &str) -> Option<String> {
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
    None
}

/// `parse_header (src/parse.c:42)` of `#0 0x55d4 in parse_header src/parse.c:42:7`.
fn sanitizer_frame(printed: &str) -> Option<String> {
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

/// `client.py:30 (parse)` of a Python traceback: its innermost frame outside the standard
/// library, a path shown from its package (`site-packages/`) or as its file name.
fn python_frame(printed: &str) -> Option<String> {
    let start = printed.find("Traceback (most recent call last):")?;
    let mut found = None;
    for line in printed[start..].lines().skip(1) {
        let Some(rest) = line.trim_start().strip_prefix("File \"") else {
            if !line.starts_with(' ') {
                break; // the exception line ends the traceback
            }
            continue;
        };
        let Some((path, rest)) = rest.split_once("\", line ") else {
            continue;
        };
        let stdlib = path.contains("/lib/python") && !path.contains("-packages/");
        if stdlib || path.starts_with('<') {
            continue;
        }
        let (number, function) = rest.split_once(", in ").unwrap_or((rest, ""));
        let file = match path.rsplit_once("-packages/") {
            Some((_, inside)) => inside,
            None => path.rsplit('/').next().unwrap_or(path),
        };
        found = Some(format!("{file}:{} ({})", number.trim(), function.trim()));
    }
    found
}

/// `parse (client.js:10)` of a Node trace's `    at parse (/app/client.js:10:5)`, or
/// `Y.parse (Y.java:42)` of a Java trace's `\tat com.x.Y.parse(Y.java:42)`: the first frame
/// outside the runtime.
fn at_frame(printed: &str) -> Option<String> {
    printed.lines().find_map(|line| {
        let frame = line.trim_start().strip_prefix("at ")?;
        if frame.contains("node:") || frame.starts_with("java.") || frame.starts_with("jdk.") {
            return None;
        }
        let (function, place) = frame.split_once('(')?;
        let place = place.trim_end_matches(')');
        let file = place.rsplit('/').next().unwrap_or(place);
        // `client.js:10:5` to `client.js:10`.
        let file = match file.matches(':').count() {
            2 => file.rsplit_once(':').map_or(file, |(f, _)| f),
            _ => file,
        };
        let function = function.trim();
        let function = function.rsplit('.').take(2).collect::<Vec<_>>();
        let function = function.into_iter().rev().collect::<Vec<_>>().join(".");
        Some(format!("{function} ({file})"))
    })
}

/// ` in <shape of the record the case first cuts>`, when a case and its blob are known.
fn record_of(case: Option<(&Case, &[u8])>) -> String {
    let Some((case, blob)) = case else {
        return String::new();
    };
    // A conversation's waits are boundaries of every case: the first cut that is the
    // case's own locates it.
    let waits = case.waits();
    let Some(cut) = case
        .splits()
        .boundaries()
        .find(|&at| !waits.iter().any(|w| w.at == at))
    else {
        return String::new();
    };
    match crate::case::frame_kind_at(blob, case, cut) {
        Some(frame) => format!(" in {frame}"),
        None => format!(" in {}", shape(record_at(blob, cut))),
    }
}

/// The record (a line, or a NUL-ended string) of `bytes` that holds byte `at`.
pub(crate) fn record_at(bytes: &[u8], at: usize) -> &[u8] {
    let at = at.min(bytes.len());
    let start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n' || b == 0)
        .map_or(0, |i| i + 1);
    let end = bytes[at..]
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .map_or(bytes.len(), |i| at + i);
    &bytes[start..end]
}

/// A request record reduced to its shape: its command word as it is, and `...` when
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
        Some(_) => format!("{first} ..."),
        None => first.to_owned(),
    }
}

/// A message as a signature keeps it: its first line, each run of digits as `<n>` and each
/// quoted stretch (`"…"`, what a panic quotes of the bytes it read) as `"<s>"`, so one
/// panic site met with other data is one finding.
pub(crate) fn fold_message(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first.len());
    let mut chars = first.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        // To the closing quote, an escaped one (`\"`) inside left alone.
        let mut escaped = false;
        for inside in chars.by_ref() {
            match inside {
                '"' if !escaped => break,
                '\\' => escaped = !escaped,
                _ => escaped = false,
            }
        }
        out.push_str("\"<s>\"");
    }
    fold_digits(&out)
}

/// `text` with each run of digits as `<n>`.
pub(crate) fn fold_digits(text: &str) -> String {
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
    fn traces_of_other_languages_name_the_programs_own_frame() {
        let python = "Traceback (most recent call last):\n  File \"/home/u/app/client.py\", line 40, in <module>\n    main()\n  File \"/home/u/app/client.py\", line 31, in parse\n    n = int(head)\n  File \"/usr/lib/python3.11/json/decoder.py\", line 9, in decode\n    x\nValueError: invalid literal\n";
        assert_eq!(location(python).as_deref(), Some("client.py:31 (parse)"));
        let node = "TypeError: x is undefined\n    at parse (/app/lib/client.js:10:5)\n    at node:internal/x:1:1\n";
        assert_eq!(location(node).as_deref(), Some("parse (client.js:10)"));
        let java = "Exception in thread \"main\" java.lang.NumberFormatException\n\tat java.lang.Integer.parseInt(Integer.java:1)\n\tat com.x.Reply.parse(Reply.java:42)\n";
        assert_eq!(
            location(java).as_deref(),
            Some("Reply.parse (Reply.java:42)")
        );
    }

    #[test]
    fn a_message_folds_what_it_quotes_and_its_numbers() {
        assert_eq!(
            fold_message("bulk reply without its body: \"$12\\r\\n\\\"x\"\nmore"),
            "bulk reply without its body: \"<s>\""
        );
        assert_eq!(
            fold_message("index 7 out of range for length 3"),
            "index <n> out of range for length <n>"
        );
    }

    #[test]
    fn every_trace_a_server_printed_is_a_place_of_it() {
        let handled = "Traceback (most recent call last):\n  File \"/srv/app.py\", line 10, in handle\n    x\nKeyError: 'k'\n";
        let fatal = "Traceback (most recent call last):\n  File \"/srv/app.py\", line 49, in on_read\n    y\nRuntimeError: cut\n";
        let both = printed(&format!(
            "{handled}{fatal}thread 'w' panicked at src/a.rs:3:1:\nboom\n"
        ));
        assert_eq!(
            places(&both),
            ["app.py:10 (handle)", "app.py:49 (on_read)", "src/a.rs:3"]
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
            decoded: None,
        };
        let one = b"PING\nSET counter 1\nGET counter\n";
        let other = b"SET session:7 alice\nQUIT\n";
        let a: Case = "v1:one:7,24".parse().unwrap(); // cuts "SE|T counter 1"
        let b: Case = "v1:other:2,22".parse().unwrap(); // cuts "SE|T session:7 alice"
        let c: Case = "v1:one:1,29".parse().unwrap(); // cuts "P|ING"
        let sig = |case: &Case, blob: &[u8]| of(&kind, None, Some((case, blob)));
        // One bug, met with other arguments: one signature.
        assert_eq!(sig(&a, one), "answer differs in SET ...");
        assert_eq!(sig(&b, other), "answer differs in SET ...");
        assert_eq!(sig(&c, one), "answer differs in PING");
        assert_eq!(shape(b"\x00\x01\x02"), "<binary>");
        // A conversation's waits are boundaries of every case, not its cuts: "NOOP\r\n|"
        // and "STARTTLS\r\n|" are, "E|CHO" after the handshake is the case's own.
        let talk = b"NOOP\r\nSTARTTLS\r\nECHO hello\r\n";
        let d: Case = "v2:talk:6,10,1,11;waits=pattern=250@6,pattern=220@16,tls@16;tls"
            .parse()
            .unwrap();
        assert_eq!(sig(&d, talk), "answer differs in ECHO ...");
    }

    #[test]
    fn a_wrong_answer_in_a_framed_blob_is_told_by_the_frame_it_is_cut_in() {
        let kind = FindingKind::ResponseDiffers {
            expected: b"a".to_vec(),
            actual: b"b".to_vec(),
            first_difference: Some(0),
            expected_closed: false,
            actual_closed: false,
            decoded: Some("HTTP/2"),
        };
        let mut blob = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        blob.extend(crate::split::h2_frame(4, 0, 0, &[]));
        blob.extend(crate::split::h2_frame(1, 5, 1, b"\x82\x86\x84"));
        let in_headers: Case = "v1:get.bin:37,8".parse().unwrap();
        let in_settings: Case = "v1:get.bin:27,18".parse().unwrap();
        assert_eq!(
            of(&kind, None, Some((&in_headers, &blob))),
            "answer differs in HEADERS frame"
        );
        assert_eq!(
            of(&kind, None, Some((&in_settings, &blob))),
            "answer differs in SETTINGS frame"
        );
    }

    #[test]
    fn a_protocol_failure_is_told_by_its_frame_and_code_alone() {
        let kind = |protocol, what, code| FindingKind::ProtocolFailure {
            protocol,
            what,
            code,
            answer: Vec::new(),
        };
        let blob = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
        let a: Case = "v1:get.bin:20,13".parse().unwrap();
        let b: Case = "v1:post.bin:3,30".parse().unwrap();
        let goaway = kind("HTTP/2", "GOAWAY", 1);
        // Cut elsewhere, in another blob: one bug.
        assert_eq!(
            of(&goaway, None, Some((&a, blob))),
            "HTTP/2 GOAWAY (PROTOCOL_ERROR)"
        );
        assert_eq!(
            of(&goaway, None, Some((&b, blob))),
            "HTTP/2 GOAWAY (PROTOCOL_ERROR)"
        );
        assert_ne!(
            of(&kind("HTTP/2", "GOAWAY", 9), None, None),
            of(&goaway, None, None)
        );
        assert_eq!(
            of(&kind("WebSocket", "close", 1002), None, None),
            "WebSocket close 1002 (protocol error)"
        );
    }
}

//! Conversations: blobs that wait for the server between their parts. Servers that speak
//! first (a greeting) or that answer one request before they read the next cannot be fuzzed
//! with one stream of bytes: an early talker is rejected, or answered differently. A blob
//! file that begins with the line `#~ stutterfuzz conversation` is a conversation: its other
//! lines are sent as they are, except lines beginning with `#~ `, which say what to wait for
//! before the bytes that follow:
//!
//! ```text
//! #~ stutterfuzz conversation
//! #~ wait bytes=11
//! HELO fuzzer
//! #~ wait pattern=250
//! QUIT
//! ```
//!
//! - `wait bytes=N`: until the server has sent N bytes in all, since the connection opened;
//! - `wait pattern=TEXT`: until TEXT shows in what the server sent since the previous wait
//!   ended (or since the connection opened), so an answer that came early still counts;
//!   bytes that are no text are written `%XX`, as in `#~ heard` lines (`%0D%0A` a line end,
//!   `%25` a `%`);
//! - `wait quiet=MS`: until the server has sent nothing for MS milliseconds;
//! - `wait frame=SETTINGS`, `wait frame=HEADERS`: until the server has sent that HTTP/2
//!   frame (SETTINGS: the ack of the client's SETTINGS; HEADERS, or `HEADERS stream=N`: an
//!   answer's head), counted since the previous wait ended as a pattern is
//!   ([`Http2Frame`]); byte counts of an HTTP/2 server's output differ between servers and
//!   with how it merges its frames, frames do not;
//! - `tls`: no wait, but the TLS handshake there: what follows goes inside TLS (STARTTLS,
//!   after the server said yes to the command that asks for it; `.tls(...)` / `--tls` say
//!   whom to trust).
//!
//! A recorded conversation (`stutterfuzz capture`, `stutterfuzz import`) also keeps what the
//! server answered, in lines `#~ heard TEXT` (control bytes, `%` and bytes past ASCII written
//! `%XX`), each at the first line start after the client bytes it came after: for reading and
//! for writing waits by hand. They are never sent.
//!
//! A wait before any byte waits for the server to speak first. Data lines keep their line
//! ends as written in the file (write `\r\n` files for CRLF protocols); a wait is a line of
//! its own, so in a file it stands at the start or after a line end. Splits fall inside
//! each part: every wait is also a boundary. A plain file means what it always meant.

use std::time::Duration;

use percent_encoding::percent_encode;

use super::wait_line::{self, HEARD_TEXT, Http2Frame};

/// The first line of a conversation file.
pub(crate) const HEADER: &str = "#~ stutterfuzz conversation";

/// What to wait for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WaitFor {
    /// The server has sent this many bytes in all.
    Bytes(u64),
    /// These bytes show in what the server sent since the previous wait ended.
    Pattern(Vec<u8>),
    /// The server has sent nothing for this long.
    Quiet(Duration),
    /// The server has sent this HTTP/2 frame since the previous wait ended.
    Frame(Http2Frame),
    /// The TLS handshake, on the connection so far (`#~ tls`): the bytes that follow go
    /// inside TLS, cut at record boundaries and inside records as TLS from the first byte.
    Tls,
}

/// A point of a conversation where the client waits for the server: before the byte at
/// offset `at` of the blob, it waits `until`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WaitPoint {
    /// The offset in the blob's bytes.
    pub at: usize,
    /// What for.
    pub until: WaitFor,
}

/// What the server sent while the client had sent `at` bytes: kept in recorded files, never
/// sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedAnswer {
    /// The client's bytes sent by then.
    pub at: usize,
    /// What the server sent.
    pub bytes: Vec<u8>,
}

impl RecordedAnswer {
    /// Adds to `heard` what the server sent while the client had sent `at` bytes: joined to
    /// the last piece when that came at the same place.
    pub(crate) fn add(heard: &mut Vec<RecordedAnswer>, at: usize, bytes: &[u8]) {
        match heard.last_mut() {
            Some(last) if last.at == at => last.bytes.extend_from_slice(bytes),
            _ => heard.push(RecordedAnswer {
                at,
                bytes: bytes.to_vec(),
            }),
        }
    }
}

/// The directive of a line that holds what the server said.
const HEARD: &str = "heard";

/// At most this much of one answer is written to a file; the rest is counted.
const HEARD_KEPT: usize = 4096;

/// A conversation's bytes and waits.
pub(crate) type Parts = (Vec<u8>, Vec<WaitPoint>);

/// The bytes and waits of a conversation file, or `None` when `file` is no conversation
/// (a plain blob). `Err` names the line that does not parse.
pub(crate) fn parse(file: &[u8]) -> Option<Result<Parts, String>> {
    let rest = body(file)?;
    let mut bytes = Vec::new();
    let mut waits = Vec::new();
    for (i, line) in rest.split_inclusive(|&b| b == b'\n').enumerate() {
        let Some((directive, glued)) = directive(line) else {
            if let Some(why) = wait_line::misspelt(line) {
                return Some(Err(format!("line {}: {why}", i + 2)));
            }
            bytes.extend_from_slice(line);
            continue;
        };
        if glued && bytes.pop() != Some(b'\n') {
            return Some(Err(format!(
                "line {}: a `#~+` line stands mid-line in the blob, so the line end before it must be the file's: put it right after a line of the blob",
                i + 2
            )));
        }
        let text = String::from_utf8_lossy(directive);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.split_once(' ').map_or(text, |(word, _)| word) == HEARD {
            continue; // what the server said, for the reader
        }
        let until = match wait_line::parse(text) {
            Ok(until) => until,
            Err(why) => return Some(Err(format!("line {}: {why}", i + 2))),
        };
        if until == WaitFor::Tls && tls_at(&waits).is_some() {
            return Some(Err(format!(
                "line {}: TLS has started already, at an earlier `#~ tls`: a conversation starts TLS once",
                i + 2
            )));
        }
        let after_a_wait = waits
            .last()
            .is_some_and(|w: &WaitPoint| w.at == bytes.len() && w.until != WaitFor::Tls);
        if until == WaitFor::Tls && !after_a_wait {
            return Some(Err(format!(
                "line {}: `#~ tls` must follow a wait for the server's yes (`#~ wait pattern=TEXT` or `#~ wait bytes=N` on the line before): without one, the handshake may begin before the yes has come",
                i + 2
            )));
        }
        waits.push(WaitPoint {
            at: bytes.len(),
            until,
        });
    }
    Some(Ok((bytes, waits)))
}

/// A conversation file's lines after its header line; `None` when it is no conversation.
fn body(file: &[u8]) -> Option<&[u8]> {
    let rest = file.strip_prefix(HEADER.as_bytes())?;
    rest.strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
}

/// What the server said in a recorded conversation file, each answer at the client bytes
/// sent before it (the `#~ heard` lines, decoded): what a stand-in server answers a client
/// with. `None` when `file` is no conversation; `Err` names a line that cannot be served (an
/// answer cut short when it was recorded).
pub(crate) fn heard(file: &[u8]) -> Option<Result<Vec<RecordedAnswer>, String>> {
    let rest = body(file)?;
    let mut sent = 0;
    let mut heard = Vec::new();
    for (i, line) in rest.split_inclusive(|&b| b == b'\n').enumerate() {
        let Some((directive, glued)) = directive(line) else {
            sent += line.len();
            continue;
        };
        if glued {
            // The line end before a glued line is the file's, not the blob's.
            sent = sent.saturating_sub(1);
        }
        let Some(text) = directive.strip_prefix(HEARD.as_bytes()) else {
            continue;
        };
        let text = text.strip_prefix(b" ").unwrap_or(text);
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.starts_with(b"(and ") {
            return Some(Err(format!(
                "line {}: this answer was cut short when it was recorded (only its first {HEARD_KEPT} bytes are kept), so it cannot be answered with; record a shorter exchange, or test against the real server",
                i + 2
            )));
        }
        let bytes: Vec<u8> = percent_encoding::percent_decode(text).collect();
        RecordedAnswer::add(&mut heard, sent, &bytes);
    }
    Some(Ok(heard))
}

/// The directive of a line (`#~ ...`), and whether it is glued (`#~+ ...`: it stands
/// mid-line in the blob, and the line end before it was added by the file); `None` for a
/// line of the blob.
fn directive(line: &[u8]) -> Option<(&[u8], bool)> {
    line.strip_prefix(b"#~ ")
        .map(|d| (d, false))
        .or_else(|| line.strip_prefix(b"#~+ ").map(|d| (d, true)))
}

/// Where a conversation's waits start TLS (`#~ tls`), if they do: the offset of the mark.
pub(crate) fn tls_at(waits: &[WaitPoint]) -> Option<usize> {
    waits.iter().find(|w| w.until == WaitFor::Tls).map(|w| w.at)
}

/// Whether a turn can stand at `at`: at the start, after a line end, or anywhere in a binary
/// protocol (a byte so far that is not text). A text client's pause mid-line is no turn.
pub(crate) fn can_wait_at(bytes: &[u8], at: usize) -> bool {
    at == 0 || bytes.get(at - 1) == Some(&b'\n') || !is_text(&bytes[..at.min(bytes.len())])
}

/// Printable ASCII, tabs and line ends only.
fn is_text(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Where a directive about offset `at` goes: there in a binary protocol (glued when mid-line),
/// at the next line start in text (the last one before, when none follows), so a reader sees
/// whole lines.
fn place(bytes: &[u8], at: usize) -> usize {
    let at = at.min(bytes.len());
    if !is_text(&bytes[..at]) {
        return at;
    }
    let starts = |p: &usize| *p == 0 || bytes[*p - 1] == b'\n';
    (at..=bytes.len())
        .find(starts)
        .or_else(|| (0..at).rev().find(starts))
        .unwrap_or(0)
}

/// The same conversation as a file: each wait, and what the server said (`heard`), at its
/// place ([`place`]). Where that place is mid-line (a binary protocol), the directive is
/// glued (`#~+`): the file adds a line end before it that is not the blob's.
pub(crate) fn write(bytes: &[u8], waits: &[WaitPoint], heard: &[RecordedAnswer]) -> Vec<u8> {
    // (offset, order, line): at one offset, what was heard comes before the wait it answers.
    let mut lines: Vec<(usize, u8, String)> = Vec::new();
    for wait in waits
        .iter()
        .filter(|w| can_wait_at(bytes, w.at) && w.at <= bytes.len())
    {
        lines.push((wait.at, 1, wait_line::write(&wait.until)));
    }
    for answer in heard.iter().filter(|h| !h.bytes.is_empty()) {
        let kept = &answer.bytes[..answer.bytes.len().min(HEARD_KEPT)];
        let mut line = format!("#~ {HEARD} {}\n", percent_encode(kept, HEARD_TEXT));
        if kept.len() < answer.bytes.len() {
            let more = answer.bytes.len() - kept.len();
            line.push_str(&format!("#~ {HEARD} (and {more} more bytes)\n"));
        }
        lines.push((place(bytes, answer.at), 0, line));
    }
    lines.sort_by_key(|(at, order, _)| (*at, *order));
    let mut out = format!("{HEADER}\n").into_bytes();
    let mut from = 0;
    for (at, _, line) in lines {
        out.extend_from_slice(&bytes[from..at]);
        if out.last() == Some(&b'\n') {
            out.extend_from_slice(line.as_bytes());
        } else {
            out.push(b'\n');
            out.extend_from_slice(b"#~+");
            out.extend_from_slice(&line.as_bytes()[2..]);
        }
        from = at;
    }
    out.extend_from_slice(&bytes[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_file_gives_its_bytes_and_waits() {
        let file = b"#~ stutterfuzz conversation\n#~ wait bytes=11\nHELO x\r\n#~ wait pattern=250\nQUIT\r\n#~ wait quiet=50\n";
        let (bytes, waits) = parse(file).unwrap().unwrap();
        assert_eq!(bytes, b"HELO x\r\nQUIT\r\n");
        assert_eq!(
            waits,
            [
                WaitPoint {
                    at: 0,
                    until: WaitFor::Bytes(11)
                },
                WaitPoint {
                    at: 8,
                    until: WaitFor::Pattern(b"250".to_vec())
                },
                WaitPoint {
                    at: 14,
                    until: WaitFor::Quiet(Duration::from_millis(50))
                },
            ]
        );
        assert_eq!(
            parse(&write(&bytes, &waits, &[])).unwrap().unwrap(),
            (bytes, waits)
        );
    }

    #[test]
    fn a_starttls_conversation_marks_where_the_handshake_is() {
        let file = b"#~ stutterfuzz conversation\n#~ wait pattern=220\nSTARTTLS\r\n#~ wait pattern=220 \n#~ tls\nEHLO x\r\n";
        let (bytes, waits) = parse(file).unwrap().unwrap();
        assert_eq!(bytes, b"STARTTLS\r\nEHLO x\r\n");
        let twice = [&file[..], b"#~ tls\n"].concat();
        let err = parse(&twice).unwrap().unwrap_err();
        assert!(err.starts_with("line 7: TLS has started already"), "{err}");
        let unwaited = b"#~ stutterfuzz conversation\nSTARTTLS\r\n#~ tls\nEHLO x\r\n";
        let err = parse(unwaited).unwrap().unwrap_err();
        assert!(
            err.starts_with("line 3: `#~ tls` must follow a wait for the server's yes"),
            "{err}"
        );
        let (wait, tls) = (&waits[1], &waits[2]);
        assert_eq!(
            (wait.at, &wait.until),
            (10, &WaitFor::Pattern(b"220 ".to_vec()))
        );
        assert_eq!((tls.at, &tls.until), (10, &WaitFor::Tls));
        // Written back, the handshake stays after the wait it follows.
        let text = write(&bytes, &waits, &[]);
        assert!(
            String::from_utf8_lossy(&text).contains("#~ wait pattern=220 \n#~ tls\nEHLO"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        assert_eq!(parse(&text).unwrap().unwrap(), (bytes, waits));
    }

    #[test]
    fn a_pattern_takes_the_escapes_of_what_the_server_said() {
        let file = b"#~ stutterfuzz conversation\nGET / HTTP/1.1\r\n\r\n#~ wait pattern=%0D%0A%0D%0A\n#~ wait pattern=100%25 done\n";
        let (bytes, waits) = parse(file).unwrap().unwrap();
        assert_eq!(waits[0].until, WaitFor::Pattern(b"\r\n\r\n".to_vec()));
        assert_eq!(waits[1].until, WaitFor::Pattern(b"100% done".to_vec()));
        let text = write(&bytes, &waits, &[]);
        assert!(
            String::from_utf8_lossy(&text)
                .contains("pattern=%0D%0A%0D%0A\n#~ wait pattern=100%25 done\n"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        assert_eq!(parse(&text).unwrap().unwrap(), (bytes, waits));
    }

    #[test]
    fn what_the_server_said_is_written_for_the_reader_and_never_sent() {
        let bytes = b"PING\r\nQUIT\r\n".to_vec();
        let waits = [WaitPoint {
            at: 6,
            until: WaitFor::Bytes(11),
        }];
        let heard = [
            RecordedAnswer {
                at: 0,
                bytes: b"220 ok\r\n".to_vec(),
            },
            RecordedAnswer {
                at: 3,
                bytes: b"+PONG 100%\r\n".to_vec(),
            },
            RecordedAnswer {
                at: 12,
                bytes: vec![b'x'; HEARD_KEPT + 5],
            },
        ];
        let file = write(&bytes, &waits, &heard);
        let text = String::from_utf8_lossy(&file);
        let expected = format!(
            "{HEADER}\n#~ heard 220 ok%0D%0A\nPING\r\n#~ heard +PONG 100%25%0D%0A\n#~ wait bytes=11\nQUIT\r\n#~ heard {}\n#~ heard (and 5 more bytes)\n",
            "x".repeat(HEARD_KEPT)
        );
        assert_eq!(text, expected);
        assert_eq!(parse(&file).unwrap().unwrap(), (bytes, waits.to_vec()));
    }

    #[test]
    fn a_binary_conversation_keeps_each_turn_and_answer_at_its_byte() {
        // Two length-prefixed requests, no line ends: each answer and each wait stands right
        // after the bytes it followed, on a glued line.
        let bytes = [0u8, 3, 1, 2, 3, 0, 1, 9];
        let waits = [WaitPoint {
            at: 5,
            until: WaitFor::Bytes(2),
        }];
        let heard_list = [
            RecordedAnswer {
                at: 5,
                bytes: vec![0, 0],
            },
            RecordedAnswer {
                at: 8,
                bytes: vec![0, 1],
            },
        ];
        let file = write(&bytes, &waits, &heard_list);
        let mut expected = format!("{HEADER}\n").into_bytes();
        expected.extend_from_slice(&[0, 3, 1, 2, 3]);
        expected.extend_from_slice(b"\n#~+ heard %00%00\n#~ wait bytes=2\n");
        expected.extend_from_slice(&[0, 1, 9]);
        expected.extend_from_slice(b"\n#~+ heard %00%01\n");
        assert_eq!(file, expected);
        assert_eq!(
            parse(&file).unwrap().unwrap(),
            (bytes.to_vec(), waits.to_vec())
        );
        assert_eq!(heard(&file).unwrap().unwrap(), heard_list);
        // A glued line after a blob line that does not end is a mistake in the file.
        let bad = format!("{HEADER}\nPING#~+ wait bytes=1\n");
        assert!(
            parse(bad.as_bytes()).is_some_and(|p| p.is_ok()),
            "not a directive: data"
        );
        let bad = format!("{HEADER}\n#~+ wait bytes=1\n");
        assert!(parse(bad.as_bytes()).unwrap().is_err());
    }

    #[test]
    fn recorded_answers_are_read_back_at_the_bytes_they_followed() {
        let heard_list = [
            RecordedAnswer {
                at: 0,
                bytes: b"220 ok\r\n".to_vec(),
            },
            RecordedAnswer {
                at: 6,
                bytes: b"+PONG 100%\r\n".to_vec(),
            },
        ];
        let file = write(b"PING\r\nQUIT\r\n", &[], &heard_list);
        assert_eq!(heard(&file).unwrap().unwrap(), heard_list);
        assert!(heard(b"PING\r\n").is_none());
        let long = write(
            b"GET\n",
            &[],
            &[RecordedAnswer {
                at: 4,
                bytes: vec![b'x'; HEARD_KEPT + 1],
            }],
        );
        let err = heard(&long).unwrap().unwrap_err();
        assert!(
            err.starts_with("line 4: this answer was cut short"),
            "{err}"
        );
    }

    #[test]
    fn plain_files_stay_plain_and_bad_waits_name_their_line() {
        assert!(parse(b"PING\r\n").is_none());
        assert!(parse(b"#~ stutterfuzz conversations\n").is_none());
        let err = parse(b"#~ stutterfuzz conversation\nPING\n#~ sleep 5\n")
            .unwrap()
            .unwrap_err();
        assert!(
            err.starts_with("line 3: \"sleep 5\" is not a wait"),
            "{err}"
        );
    }
}

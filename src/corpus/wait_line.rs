//! How a wait is spelled on a conversation's `#~` line, read and written in one place: the
//! parser and the writer of conversation files both come here, so a file written reads back
//! the same.
//!
//! Besides byte counts, patterns and quiet, a wait may name an HTTP/2 frame the server sends
//! (`frame=SETTINGS`, `frame=HEADERS`): byte counts of an HTTP/2 server's output differ
//! between servers and with how it merges its frames, while its frames do not.

use std::fmt;
use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, percent_encode};

use super::WaitFor;
use crate::split::http2::{ACK, HEADERS, SETTINGS};

/// What a `#~ heard` line and a pattern write as it is; everything else is `%XX`.
pub(super) const HEARD_TEXT: &AsciiSet = &CONTROLS.add(b'%');

/// Why `line` of a conversation file is taken for a misspelt directive (`#~wait ...`,
/// `#~+wait ...`: no space after the mark), which would otherwise be sent as bytes of the
/// blob; `None` for any other line.
pub(super) fn misspelt(line: &[u8]) -> Option<String> {
    let (mark, rest) = match line.strip_prefix(b"#~+") {
        Some(rest) => ("#~+", rest),
        None => ("#~", line.strip_prefix(b"#~")?),
    };
    let word: Vec<u8> = rest
        .iter()
        .copied()
        .take_while(u8::is_ascii_alphabetic)
        .collect();
    let known = [&b"wait"[..], b"heard", TLS.as_bytes()];
    known.contains(&word.as_slice()).then(|| {
        let word = String::from_utf8_lossy(&word);
        format!("`{mark}{word}` lacks the space after `{mark}`: write `{mark} {word} ...` (as it is, the line would be sent as bytes of the blob)")
    })
}

/// The directive of the line where TLS starts.
pub(super) const TLS: &str = "tls";

/// The waits a line may say, for messages.
pub(super) const FORMS: &str = "`#~ wait bytes=N`, `#~ wait pattern=TEXT`, `#~ wait quiet=MS`, `#~ wait frame=SETTINGS`, `#~ wait frame=HEADERS` or `#~ tls`";

/// An HTTP/2 frame the server sends, waited for with `#~ wait frame=NAME`. Frames are read
/// from the start of the server's output (an HTTP/2 server begins with its SETTINGS frame);
/// a wait counts the frames that ended since the previous wait ended, as a pattern does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Http2Frame {
    /// `frame=SETTINGS`: a SETTINGS frame with the ACK flag, the server's ack of the
    /// client's SETTINGS.
    SettingsAck,
    /// `frame=HEADERS`, or `frame=HEADERS stream=N`: a HEADERS frame (on stream N), the
    /// head of an answer.
    Headers {
        /// The stream it must be on; any when `None`.
        stream: Option<u32>,
    },
}

impl Http2Frame {
    /// The frame a `frame=` value names (`SETTINGS`, `HEADERS`, `HEADERS stream=N`); `None`
    /// for anything else.
    pub(crate) fn parse(value: &str) -> Option<Http2Frame> {
        let mut words = value.split_whitespace();
        let frame = match (words.next()?, words.next()) {
            ("SETTINGS", None) => Http2Frame::SettingsAck,
            ("HEADERS", None) => Http2Frame::Headers { stream: None },
            ("HEADERS", Some(stream)) => Http2Frame::Headers {
                // Stream 0 is the connection's: no answer comes on it.
                stream: Some(
                    stream
                        .strip_prefix("stream=")?
                        .parse()
                        .ok()
                        .filter(|&n: &u32| n > 0)?,
                ),
            },
            _ => return None,
        };
        words.next().is_none().then_some(frame)
    }

    /// Whether a frame of type `kind` with `flags` on `stream` is this one.
    pub(crate) fn is(self, kind: u8, flags: u8, stream: u32) -> bool {
        match self {
            Http2Frame::SettingsAck => kind == SETTINGS && flags & ACK != 0,
            Http2Frame::Headers { stream: want } => {
                kind == HEADERS && want.is_none_or(|want| want == stream)
            }
        }
    }
}

/// The value of `frame=`, as a file and a case string write it.
impl fmt::Display for Http2Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Http2Frame::SettingsAck => f.write_str("SETTINGS"),
            Http2Frame::Headers { stream: None } => f.write_str("HEADERS"),
            Http2Frame::Headers { stream: Some(n) } => write!(f, "HEADERS stream={n}"),
        }
    }
}

/// The wait a directive's text says (`wait bytes=11`, `tls`), or why it is none: a message
/// for the line, which names the forms there are.
pub(super) fn parse(text: &str) -> Result<WaitFor, String> {
    if text.trim_end() == TLS {
        return Ok(WaitFor::Tls);
    }
    let not_a_wait = || format!("{text:?} is not a wait: write {FORMS}");
    let (key, value) = text
        .strip_prefix("wait ")
        .and_then(|wait| wait.split_once('='))
        .ok_or_else(not_a_wait)?;
    let until = match key {
        "bytes" => value.parse().ok().map(WaitFor::Bytes),
        // Written as `#~ heard` writes what the server said: `%0D%0A` for a line end.
        "pattern" if !value.is_empty() => Some(WaitFor::Pattern(
            percent_encoding::percent_decode_str(value).collect(),
        )),
        "quiet" => value
            .parse()
            .ok()
            .map(|ms| WaitFor::Quiet(Duration::from_millis(ms))),
        "frame" => {
            return Http2Frame::parse(value).map(WaitFor::Frame).ok_or_else(|| {
                format!(
                    "`frame={}` names no frame to wait for: write `#~ wait frame=SETTINGS` (the server's ack of the client's SETTINGS) or `#~ wait frame=HEADERS` (an answer's head; `frame=HEADERS stream=N` for stream N's, N from 1)",
                    value.trim_end()
                )
            });
        }
        _ => None,
    };
    until.ok_or_else(not_a_wait)
}

/// The line that says `until`, its line end with it.
pub(super) fn write(until: &WaitFor) -> String {
    match until {
        WaitFor::Bytes(n) => format!("#~ wait bytes={n}\n"),
        WaitFor::Pattern(p) => format!("#~ wait pattern={}\n", percent_encode(p, HEARD_TEXT)),
        WaitFor::Quiet(d) => format!("#~ wait quiet={}\n", d.as_millis()),
        WaitFor::Frame(frame) => format!("#~ wait frame={frame}\n"),
        WaitFor::Tls => format!("#~ {TLS}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_waits_read_and_write_back() {
        for (text, frame) in [
            ("SETTINGS", Http2Frame::SettingsAck),
            ("HEADERS", Http2Frame::Headers { stream: None }),
            ("HEADERS stream=3", Http2Frame::Headers { stream: Some(3) }),
        ] {
            let line = format!("wait frame={text}");
            assert_eq!(parse(&line), Ok(WaitFor::Frame(frame)), "{line}");
            assert_eq!(write(&WaitFor::Frame(frame)), format!("#~ {line}\n"));
        }
        // The line end of a CRLF file is not part of the value.
        assert_eq!(
            parse("wait frame=SETTINGS \r"),
            Ok(WaitFor::Frame(Http2Frame::SettingsAck))
        );
    }

    #[test]
    fn a_directive_without_its_space_is_refused_not_sent() {
        assert_eq!(
            misspelt(b"#~+wait frame=SETTINGS\n").as_deref(),
            Some(
                "`#~+wait` lacks the space after `#~+`: write `#~+ wait ...` (as it is, the line would be sent as bytes of the blob)"
            )
        );
        assert!(misspelt(b"#~tls\n").is_some());
        assert!(misspelt(b"#~heard +OK\n").is_some());
        for line in [
            &b"#~ wait bytes=3\n"[..],
            b"#~~ x\n",
            b"#~waiting\n",
            b"SET k v\n",
        ] {
            assert_eq!(misspelt(line), None, "{}", line.escape_ascii());
        }
    }

    #[test]
    fn a_bad_frame_says_which_frames_there_are() {
        for value in [
            "settings",
            "DATA",
            "",
            "HEADERS stream=x",
            "HEADERS stream=0",
            "HEADERS 3",
            "SETTINGS stream=1",
        ] {
            let err = parse(&format!("wait frame={value}")).unwrap_err();
            assert!(
                err.starts_with(&format!("`frame={value}` names no frame"))
                    && err.contains("`#~ wait frame=SETTINGS`")
                    && err.contains("`#~ wait frame=HEADERS`")
                    && !err.contains('\n'),
                "{err}"
            );
        }
    }

    #[test]
    fn a_frame_wait_matches_its_frame_only() {
        let settings = Http2Frame::SettingsAck;
        assert!(settings.is(SETTINGS, ACK, 0));
        assert!(
            !settings.is(SETTINGS, 0, 0),
            "the server's own SETTINGS is no ack"
        );
        assert!(!settings.is(0x6, ACK, 0), "a PING ack is not one either");
        let any = Http2Frame::Headers { stream: None };
        assert!(any.is(HEADERS, 0x5, 1) && any.is(HEADERS, 0, 7));
        assert!(!any.is(0x9, 0x4, 1), "CONTINUATION");
        let three = Http2Frame::Headers { stream: Some(3) };
        assert!(three.is(HEADERS, 0x4, 3) && !three.is(HEADERS, 0x4, 1));
    }

    #[test]
    fn an_http2_conversation_keeps_its_frame_waits_through_its_file() {
        use super::super::WaitPoint;
        use super::super::conversation;
        use crate::split::http2::PREFACE;
        // The preface and an empty SETTINGS; then a HEADERS frame (GET /).
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
        let first = bytes.len();
        bytes.extend_from_slice(b"\0\0\x03\x01\x05\0\0\0\x01\x82\x86\x84");
        let waits = vec![
            WaitPoint {
                at: first,
                until: WaitFor::Frame(Http2Frame::SettingsAck),
            },
            WaitPoint {
                at: bytes.len(),
                until: WaitFor::Frame(Http2Frame::Headers { stream: Some(1) }),
            },
        ];
        let file = conversation::write(&bytes, &waits, &[]);
        let text = String::from_utf8_lossy(&file);
        assert!(
            text.contains("\n#~+ wait frame=SETTINGS\n")
                && text.ends_with("\n#~+ wait frame=HEADERS stream=1\n"),
            "{text}"
        );
        assert_eq!(conversation::parse(&file), Some(Ok((bytes, waits))));
        let bad = b"#~ stutterfuzz conversation\nPING\n#~ wait frame=DATA\n";
        let err = conversation::parse(bad).unwrap().unwrap_err();
        assert!(
            err.starts_with("line 3: `frame=DATA` names no frame"),
            "{err}"
        );
    }
}

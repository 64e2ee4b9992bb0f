//! The waits of a conversation as a case string writes them (`;waits=bytes=11@0,pattern=250@8`),
//! so a case replays the conversation exactly even when the blob file changed or is plain.
//!
//! Each wait is `UNTIL@AT`, as a conversation file would say it (`bytes=N`, `pattern=TEXT`,
//! `quiet=MSms`, `frame=SETTINGS`, `frame=HEADERS`, and `tls` where the TLS handshake is)
//! followed by the offset it waits before. A pattern or a frame is percent-encoded where it
//! holds anything but letters, digits and `-._~` (`frame=HEADERS%20stream%3D3`), so a case
//! string stays one word without `:` or `;`, fit for a shell and a regression line.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};

use crate::corpus::{Http2Frame, WaitFor, WaitPoint};

/// What a pattern keeps as it is; everything else is `%XX`.
const PATTERN: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `waits` as one field value: `bytes=11@0,quiet=50ms@14`.
pub(crate) fn format(waits: &[WaitPoint]) -> String {
    let items: Vec<String> = waits
        .iter()
        .map(|wait| {
            let until = match &wait.until {
                WaitFor::Bytes(n) => format!("bytes={n}"),
                WaitFor::Pattern(p) => format!("pattern={}", percent_encode(p, PATTERN)),
                WaitFor::Quiet(d) => format!("quiet={}ms", d.as_millis()),
                WaitFor::Frame(frame) => {
                    format!(
                        "frame={}",
                        percent_encode(frame.to_string().as_bytes(), PATTERN)
                    )
                }
                WaitFor::Tls => "tls".to_owned(),
            };
            format!("{until}@{}", wait.at)
        })
        .collect();
    items.join(",")
}

/// The waits a field value names, in order of their offsets; `None` when one does not parse.
pub(crate) fn parse(value: &str) -> Option<Vec<WaitPoint>> {
    let mut waits = Vec::new();
    for item in value.split(',') {
        let (until, at) = item.rsplit_once('@')?;
        let at = at.parse().ok()?;
        let until = match until.split_once('=').unwrap_or((until, "")) {
            ("tls", "") => WaitFor::Tls,
            ("bytes", n) => WaitFor::Bytes(n.parse().ok()?),
            ("pattern", p) if !p.is_empty() => WaitFor::Pattern(percent_decode_str(p).collect()),
            ("frame", f) => WaitFor::Frame(Http2Frame::parse(
                &percent_decode_str(f).decode_utf8().ok()?,
            )?),
            ("quiet", ms) => {
                WaitFor::Quiet(Duration::from_millis(ms.strip_suffix("ms")?.parse().ok()?))
            }
            _ => return None,
        };
        waits.push(WaitPoint { at, until });
    }
    waits.sort_by_key(|w| w.at);
    Some(waits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_trip_with_any_pattern() {
        let waits = vec![
            WaitPoint {
                at: 0,
                until: WaitFor::Bytes(11),
            },
            WaitPoint {
                at: 8,
                until: WaitFor::Pattern(b"250 OK;a:b,c@d=e%\r\n\xff".to_vec()),
            },
            // The handshake after the wait at the same offset, as the file has them.
            WaitPoint {
                at: 8,
                until: WaitFor::Tls,
            },
            WaitPoint {
                at: 14,
                until: WaitFor::Quiet(Duration::from_millis(50)),
            },
            WaitPoint {
                at: 20,
                until: WaitFor::Frame(Http2Frame::SettingsAck),
            },
            WaitPoint {
                at: 30,
                until: WaitFor::Frame(Http2Frame::Headers { stream: Some(3) }),
            },
        ];
        let text = format(&waits);
        assert!(!text.contains([':', ';', ' ']), "{text}");
        assert!(text.starts_with("bytes=11@0,pattern=250%20OK%3B"), "{text}");
        assert!(
            text.ends_with(",frame=SETTINGS@20,frame=HEADERS%20stream%3D3@30"),
            "{text}"
        );
        assert_eq!(parse(&text), Some(waits));
    }

    #[test]
    fn malformed_waits_are_rejected() {
        for text in [
            "",
            "bytes=11",
            "bytes=x@0",
            "pattern=@3",
            "quiet=50@1",
            "sleep=5@1",
            "tls=1@0",
            "tls@x",
            "bytes=1@0,",
            "frame=DATA@3",
            "frame=@3",
            "frame=HEADERS%20stream%3Dx@3",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}

//! Where a case's cuts fall among a framed blob's frames, in words: a report's reader sees
//! that the bug needs five reads to end inside one HEADERS frame's header without decoding
//! escaped binary by hand. Frames are found as the generator finds them
//! ([`Shape::records`](crate::split::Shape)); they are named by their protocol's type.

use std::fmt::Write as _;

use super::Case;
use crate::split::http2::{self, PREFACE};
use crate::split::{Direction, Shape, upgrade_head};

/// Frames with cuts shown at most.
const MOST_FRAMES: usize = 4;

/// The frames the cuts of `case` fall inside, one phrase each: `HEADERS on stream 1 (bytes
/// 64-75), cut after bytes 4, 5, 6, 7, 8 of its 9-byte header and byte 1 of its payload`.
/// `None` when the blob has no frames, or no cut falls inside one.
pub(crate) fn frame_cuts(bytes: &[u8], case: &Case) -> Option<String> {
    let parts: Vec<usize> = case.waits().iter().map(|w| w.at).collect();
    let shape = Shape::conversation(bytes, &parts);
    let records = shape.records();
    if records.iter().all(|r| r.header == 0) {
        return None;
    }
    let cuts = cut_offsets(case);
    let naming = Naming::of(bytes);
    let mut phrases = Vec::new();
    let mut more = 0;
    for (i, record) in records.iter().enumerate() {
        let end = records.get(i + 1).map_or(bytes.len(), |next| next.at);
        let inside: Vec<usize> = cuts
            .iter()
            .filter(|&&c| c > record.at && c < end)
            .map(|&c| c - record.at)
            .collect();
        if record.header == 0 || inside.is_empty() {
            continue;
        }
        if phrases.len() == MOST_FRAMES {
            more += 1;
            continue;
        }
        let name = naming.name(&bytes[record.at..end], record.header);
        phrases.push(format!(
            "{name} (bytes {}-{}), cut {}",
            record.at,
            end - 1,
            where_cut(&inside, record.header, end - record.at)
        ));
    }
    if phrases.is_empty() {
        return None;
    }
    let mut text = phrases.join("; ");
    if more > 0 {
        let _ = write!(text, "; and {more} more frame(s)");
    }
    Some(text)
}

/// The kind of frame of `bytes` (as `case`'s conversation parts it) that holds byte `at`:
/// `HEADERS frame`, `a WebSocket text frame`; `None` outside frames, or in a record of no
/// known protocol. What tells one finding from another in a framed blob: the stream or the
/// frame's place may change from case to case, the kind the parser broke on does not.
pub(crate) fn frame_kind_at(bytes: &[u8], case: &Case, at: usize) -> Option<String> {
    let parts: Vec<usize> = case.waits().iter().map(|w| w.at).collect();
    let records = Shape::conversation(bytes, &parts).records();
    let i = records.iter().rposition(|r| r.at <= at)?;
    let record = records[i];
    let end = records.get(i + 1).map_or(bytes.len(), |next| next.at);
    let naming = Naming::of(bytes);
    if record.header == 0 || matches!(naming, Naming::Other) && record.header != 5 {
        return None;
    }
    let kind = naming.kind(&bytes[record.at..end], record.header);
    Some(match naming {
        Naming::Http2 => format!("{kind} frame"),
        _ => kind,
    })
}

/// Where the cuts of `case` fall in its blob, as offsets.
fn cut_offsets(case: &Case) -> Vec<usize> {
    let total = case.splits().total();
    case.splits()
        .chunks()
        .iter()
        .scan(0, |at, chunk| {
            *at += chunk;
            Some(*at)
        })
        .filter(|&at| at < total)
        .collect()
}

/// `after bytes 4 and 5 of its 9-byte header and byte 1 of its 3-byte payload`, for cuts at `inside`
/// (offsets into a frame of `len` bytes whose header is `header` long).
fn where_cut(inside: &[usize], header: usize, len: usize) -> String {
    let (in_header, in_payload): (Vec<usize>, Vec<usize>) =
        inside.iter().partition(|&&c| c <= header);
    let list = |offsets: &[usize]| {
        let mut words: Vec<String> = offsets.iter().map(usize::to_string).collect();
        let last = words.pop().unwrap_or_default();
        match words.is_empty() {
            true => format!("byte {last}"),
            false => format!("bytes {} and {last}", words.join(", ")),
        }
    };
    let mut said = Vec::new();
    if !in_header.is_empty() {
        said.push(format!(
            "after {} of its {header}-byte header",
            list(&in_header)
        ));
    }
    if !in_payload.is_empty() {
        let payload: Vec<usize> = in_payload.iter().map(|c| c - header).collect();
        let after = if said.is_empty() { "after " } else { "" };
        said.push(format!(
            "{after}{} of its {}-byte payload",
            list(&payload),
            len - header
        ));
    }
    said.join(" and ")
}

/// How the blob's frames are named: by the protocol the blob speaks.
enum Naming {
    Http2,
    WebSocket,
    Other,
}

impl Naming {
    /// How `bytes` name their frames: by the protocol they open, as the generator finds it
    /// (the HTTP/2 preface, a request to upgrade to WebSocket).
    fn of(bytes: &[u8]) -> Naming {
        if bytes.starts_with(PREFACE) {
            Naming::Http2
        } else if upgrade_head(bytes, Direction::Requests).is_some() {
            Naming::WebSocket
        } else {
            Naming::Other
        }
    }

    /// The name of the frame `frame` whose header is `header` bytes long, with its stream
    /// (HTTP/2, other than 0).
    fn name(&self, frame: &[u8], header: usize) -> String {
        let kind = self.kind(frame, header);
        match (self, header) {
            (Naming::Http2, 9) => match http2::header(frame).map_or(0, |h| h.stream) {
                0 => kind,
                stream => format!("{kind} on stream {stream}"),
            },
            _ => kind,
        }
    }

    /// What kind of frame `frame` is: `HEADERS`, `a WebSocket text frame`, `the TLS
    /// handshake record`, `a length-prefixed record`.
    fn kind(&self, frame: &[u8], header: usize) -> String {
        match (self, header) {
            (Naming::Http2, 9) => http2_type(frame[3]),
            (_, 5) if matches!(frame[0], 20..=23) && frame[1] == 3 => {
                let kind = match frame[0] {
                    20 => "change-cipher-spec",
                    21 => "alert",
                    22 => "handshake",
                    _ => "application-data",
                };
                format!("the TLS {kind} record")
            }
            (Naming::WebSocket, _) => {
                let kind = match frame[0] & 0x0f {
                    0 => "continuation",
                    1 => "text",
                    2 => "binary",
                    8 => "close",
                    9 => "ping",
                    10 => "pong",
                    _ => "unknown",
                };
                format!("a WebSocket {kind} frame")
            }
            _ => "a length-prefixed record".to_owned(),
        }
    }
}

fn http2_type(kind: u8) -> String {
    const NAMES: [&str; 10] = [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
    ];
    NAMES
        .get(usize::from(kind))
        .map_or_else(|| format!("a frame of type {kind:#x}"), |n| (*n).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::split::h2_frame;

    fn h2(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        h2_frame(kind, 0, stream, payload)
    }

    #[test]
    fn cuts_inside_an_http2_frame_are_said_by_frame_header_and_payload() {
        let mut blob = PREFACE.to_vec();
        blob.extend(h2(4, 0, &[]));
        blob.extend(h2(1, 1, b"\x82\x86\x84"));
        blob.extend(h2(6, 0, b"stutter!"));
        // The HEADERS frame spans 33..45: cuts after 4 and 5 bytes of it, and 1 into its
        // payload; one cut between frames (at 45) is inside none.
        let case: Case = "v1:h2:37,1,5,19".parse().unwrap();
        assert_eq!(
            frame_cuts(&blob, &case).as_deref(),
            Some(
                "HEADERS on stream 1 (bytes 33-44), cut after bytes 4 and 5 of its 9-byte header and byte 1 of its 3-byte payload"
            )
        );
        let between: Case = "v1:h2:33,12,17".parse().unwrap();
        assert_eq!(frame_cuts(&blob, &between), None);
    }

    #[test]
    fn a_websocket_frame_is_named_by_its_opcode() {
        let mut blob = b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let head = blob.len();
        blob.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4, 1, 2, 3, 4, 5]);
        let case: Case = format!("v1:ws:{},1,10", head + 1).parse().unwrap();
        assert_eq!(
            frame_cuts(&blob, &case).as_deref(),
            Some(format!("a WebSocket text frame (bytes {head}-{}), cut after bytes 1 and 2 of its 6-byte header", head + 10).as_str())
        );
    }

    #[test]
    fn text_blobs_have_no_frames_to_name() {
        let case: Case = "v1:t:2,7".parse().unwrap();
        assert_eq!(frame_cuts(b"SET k v\r\n", &case), None);
        assert_eq!(frame_kind_at(b"SET k v\r\n", &case, 2), None);
    }

    #[test]
    fn the_frame_a_cut_falls_in_is_named_by_its_kind_alone() {
        let mut blob = PREFACE.to_vec();
        blob.extend(h2(4, 0, &[]));
        blob.extend(h2(1, 3, b"\x82\x86\x84"));
        let case: Case = "v1:h2:37,8".parse().unwrap();
        assert_eq!(
            frame_kind_at(&blob, &case, 37).as_deref(),
            Some("HEADERS frame")
        );
        assert_eq!(
            frame_kind_at(&blob, &case, 26).as_deref(),
            Some("SETTINGS frame")
        );
        assert_eq!(
            frame_kind_at(&blob, &case, 5),
            None,
            "the preface is no frame"
        );
    }
}

//! Where records begin in a blob, to cut a few bytes into each: a server that handles the
//! first record of a read well may still break when a read ends inside a later record's
//! command word, header or length prefix. Each part of a conversation (between its waits)
//! is read on its own, and what a part speaks is carried to the next. Framed protocols are
//! known by their frames, over the whole part ([`super::frames`]: HTTP/2, WebSocket, TLS);
//! so is a part made of length-prefixed records (a 1- to 4-byte length, big- or
//! little-endian, before each payload), at each prefix. Anything else is general, with no
//! protocol named: records start after each line end (`\n`) and NUL byte. A server's answers,
//! which client mode cuts, are read the same way ([`Shape::answers`]): only how a framed
//! protocol opens differs, and [`super::frames`] knows both.

use std::ops::RangeInclusive;

use super::frames::{self, Direction, Frame, Protocol};

/// HTTP/2 frame types that carry a header block.
const HEADERS: u8 = 1;
const CONTINUATION: u8 = 9;

/// Only the first bytes of a part are searched for line ends and NUL bytes, and only so many
/// such starts are kept; frames are searched to the end, up to their own limit.
const SCAN: usize = 64 * 1024;
const MAX_STARTS: usize = 1024;
const MAX_FRAMES: usize = 64 * 1024;

/// A blob as the generator sees it: its bytes, where its parts begin (a conversation's
/// waits), whether frames are looked for (not only line ends, NUL bytes and length
/// prefixes, as before frames were known), and which way the bytes go (a client's requests,
/// or a server's answers, which open framed protocols otherwise).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) parts: &'a [usize],
    pub(crate) frames: bool,
    pub(crate) direction: Direction,
}

impl<'a> Shape<'a> {
    /// A client's bytes of one part, their frames looked for.
    pub(crate) fn plain(bytes: &'a [u8]) -> Self {
        Shape {
            bytes,
            parts: &[],
            frames: true,
            direction: Direction::Requests,
        }
    }

    /// A client's bytes in parts: a conversation's, whose waits begin at `parts`.
    pub(crate) fn conversation(bytes: &'a [u8], parts: &'a [usize]) -> Self {
        Shape {
            parts,
            ..Shape::plain(bytes)
        }
    }

    /// A server's answers on one connection, as one part, their frames looked for: an HTTP/2
    /// server's open with its SETTINGS frame, a WebSocket server's with its `101` answer.
    pub(crate) fn answers(bytes: &'a [u8]) -> Self {
        Shape {
            direction: Direction::Answers,
            ..Shape::plain(bytes)
        }
    }

    /// The blob's parts as ranges, in order, each non-empty.
    fn part_ranges(&self) -> Vec<(usize, usize)> {
        let len = self.bytes.len();
        let mut bounds: Vec<usize> = self.parts.iter().copied().filter(|&p| p < len).collect();
        bounds.push(0);
        bounds.sort_unstable();
        bounds.dedup();
        let ends = bounds.iter().skip(1).copied().chain([len]);
        bounds
            .iter()
            .copied()
            .zip(ends)
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// The records of the blob, ascending, 0 first (for a non-empty blob).
    pub(crate) fn records(&self) -> Vec<Frame> {
        self.walk(true)
    }

    /// The offsets where records begin (0 first), ascending.
    pub(crate) fn record_starts(&self) -> Vec<usize> {
        self.records().iter().map(|r| r.at).collect()
    }

    /// The frame headers of the blob's framed parts (none when no part is framed).
    pub(crate) fn headers(&self) -> Vec<Frame> {
        let mut headers = self.walk(false);
        headers.retain(|f| f.header > 0);
        headers
    }

    /// The places whose cuts narrowing treats as one group, as ranges of cut offsets: the
    /// inside of each frame header (a cut after each of its bytes), and for HTTP/2 the whole
    /// of each header block (a HEADERS frame and the CONTINUATION frames after it), where a
    /// parser may count reads. Ascending, not overlapping.
    pub(crate) fn cut_groups(&self) -> Vec<RangeInclusive<usize>> {
        let headers = self.headers();
        let len = self.bytes.len();
        let mut groups: Vec<RangeInclusive<usize>> = Vec::new();
        let mut in_block = false;
        for (i, h) in headers.iter().enumerate() {
            let kind = (h.header == 9).then(|| self.bytes.get(h.at + 3).copied());
            let continues = in_block && kind == Some(Some(CONTINUATION));
            in_block = kind == Some(Some(HEADERS)) || continues;
            let last = if in_block {
                headers.get(i + 1).map_or(len, |next| next.at) - 1
            } else {
                h.at + h.header
            };
            let last = last.min(len.saturating_sub(1));
            match groups.last_mut() {
                Some(open) if continues => *open = *open.start()..=last.max(*open.end()),
                _ if h.at < last => groups.push(h.at + 1..=last),
                _ => {}
            }
        }
        groups
    }

    /// Each part's records: its frames when it is framed, else (with `general`) its line
    /// ends and NUL bytes.
    fn walk(&self, general: bool) -> Vec<Frame> {
        let mut records = Vec::new();
        let mut protocol = Protocol::Unknown;
        let (mut frames_left, mut starts_left) = (MAX_FRAMES, MAX_STARTS);
        for (start, end) in self.part_ranges() {
            let part = &self.bytes[start..end];
            let found = if self.frames {
                frames::framed(part, protocol, self.direction, frames_left)
            } else {
                None
            };
            let found = found.or_else(|| {
                length_prefixed(part, frames_left, self.frames).map(|f| (Protocol::Unknown, f))
            });
            if let Some((spoken, frames)) = found {
                protocol = spoken;
                // The records of a request head or a preface come besides the frames.
                frames_left = frames_left.saturating_sub(frames.len());
                records.extend(frames.into_iter().map(|f| Frame {
                    at: start + f.at,
                    header: f.header,
                }));
            } else if general {
                protocol = Protocol::Unknown;
                let starts = line_starts(part, starts_left);
                starts_left -= starts.len().min(starts_left);
                records.extend(starts.into_iter().map(|at| Frame {
                    at: start + at,
                    header: 0,
                }));
            }
        }
        records
    }
}

/// The record starts of a part with no known framing: 0, and after each `\n` and NUL byte
/// of its first [`SCAN`] bytes; at most `room` (and at least its start).
fn line_starts(part: &[u8], room: usize) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, &b) in part.iter().enumerate().take(SCAN) {
        if starts.len() >= room {
            break;
        }
        if (b == b'\n' || b == 0) && i + 1 < part.len() {
            starts.push(i + 1);
        }
    }
    starts
}

/// The records when the whole part is two or more length-prefixed records, each prefix the
/// length of the payload after it; at most `room`. 3-byte prefixes only when `three`.
fn length_prefixed(part: &[u8], room: usize, three: bool) -> Option<Vec<Frame>> {
    const LAYOUTS: [(usize, bool); 7] = [
        (4, true),
        (4, false),
        (3, true),
        (3, false),
        (2, true),
        (2, false),
        (1, true),
    ];
    let room = room.min(MAX_STARTS);
    LAYOUTS
        .iter()
        .filter(|&&(width, _)| three || width != 3)
        .find_map(|&(width, big_endian)| {
            let mut starts = Vec::new();
            let mut at = 0;
            while at < part.len() && starts.len() < room {
                let prefix = part.get(at..at + width)?;
                let read = |n: usize, &b: &u8| (n << 8) | usize::from(b);
                let len = if big_endian {
                    prefix.iter().fold(0, read)
                } else {
                    prefix.iter().rev().fold(0, read)
                };
                starts.push(Frame { at, header: width });
                at = at.checked_add(width)?.checked_add(len)?;
            }
            (at == part.len() && starts.len() >= 2).then_some(starts)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::frames::PREFACE;
    use crate::split::frames::tests::{h2, ws_text};

    fn starts(bytes: &[u8]) -> Vec<usize> {
        Shape::plain(bytes).record_starts()
    }

    #[test]
    fn lines_and_nul_terminated_records_begin_after_their_terminators() {
        assert_eq!(starts(b"SET k v\r\nGET k\r\nQUIT\r\n"), [0, 9, 16]);
        assert_eq!(starts(b"a\0bc\0"), [0, 2]);
        assert_eq!(starts(b"no terminator"), [0]);
        assert_eq!(starts(b""), Vec::<usize>::new());
    }

    #[test]
    fn a_chain_of_length_prefixed_records_is_recognised() {
        // Two records of a 2-byte big-endian length and a payload.
        let blob = [0, 3, b'a', b'b', b'c', 0, 1, b'z'];
        assert_eq!(starts(&blob), [0, 5]);
        // 4-byte little-endian.
        let blob = [2, 0, 0, 0, b'h', b'i', 1, 0, 0, 0, b'!'];
        assert_eq!(starts(&blob), [0, 6]);
        // 3-byte big-endian.
        let blob = [0, 0, 2, b'h', b'i', 0, 0, 1, b'!'];
        assert_eq!(starts(&blob), [0, 5]);
        // Text that happens not to chain falls back to line ends.
        assert_eq!(starts(b"PING\nPONG\n"), [0, 5]);
    }

    /// The HTTP/2 blob of the fixtures: its frame starts, not its NUL bytes.
    #[test]
    fn http2_records_are_its_frames_at_any_depth() {
        let mut blob = PREFACE.to_vec();
        blob.extend(h2(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        for i in 0..10_000u32 {
            blob.extend(h2(0, 0, 1, &[0; 100][..(i % 100) as usize]));
        }
        let shape = Shape::plain(&blob);
        let records = shape.records();
        assert_eq!(records.len(), 1 + 1 + 10_000);
        assert!(
            records.last().unwrap().at > 64 * 1024,
            "past the first 64 KiB"
        );
        assert_eq!(shape.headers().len(), 10_001);
        let before = Shape {
            frames: false,
            ..shape
        };
        assert!(before.headers().is_empty(), "before frames were known");
    }

    #[test]
    fn narrowing_groups_the_cuts_of_each_header_and_of_an_http2_header_block() {
        // Preface, SETTINGS at 24, WINDOW_UPDATE at 45, a header block from 58 to 104 (HEADERS
        // and two CONTINUATION frames), PING at 104.
        let blob = crate::split::headers::tests::h2_blob();
        assert_eq!(
            Shape::plain(&blob).cut_groups(),
            [25..=33, 46..=54, 59..=103, 105..=113]
        );
        let mut ws = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let at = ws.len();
        ws.extend(ws_text(b"hello"));
        assert_eq!(Shape::plain(&ws).cut_groups(), [at + 1..=at + 6]);
        assert!(Shape::plain(b"SET k v\r\n").cut_groups().is_empty());
    }

    #[test]
    fn frames_past_the_limit_are_not_looked_for() {
        let mut blob = PREFACE.to_vec();
        for _ in 0..MAX_FRAMES + 10 {
            blob.extend(h2(0, 0, 1, b""));
        }
        let at = blob.len();
        blob.extend_from_slice(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
        blob.extend(ws_text(b"one"));
        let parts = [at];
        let shape = Shape::conversation(&blob, &parts);
        let records = shape.records();
        assert!(records.len() <= MAX_FRAMES + 3, "{}", records.len());
        assert_eq!(records.last().unwrap().at, at + 16, "the head's lines only");
    }

    #[test]
    fn each_part_of_a_conversation_is_read_on_its_own() {
        let head = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        let mut blob = head.to_vec();
        blob.extend(ws_text(b"one"));
        blob.extend(ws_text(b"two"));
        let at = head.len();
        let parts = [at];
        let shape = Shape::conversation(&blob, &parts);
        // The head alone is an upgrade request; the frames after the wait are WebSocket's.
        assert_eq!(shape.record_starts(), [0, 16, at, at + 9]);
        assert_eq!(shape.headers().len(), 2);
        // A part that is text starts at the wait and after its line ends.
        let text = b"HELO a\nQUIT\n";
        let parts = [3];
        let shape = Shape::conversation(text, &parts);
        assert_eq!(shape.record_starts(), [0, 3, 7]);
    }

    #[test]
    fn frames_sent_right_after_the_upgrade_request_are_websocket_frames() {
        // Early data: frames follow the request in the same part, before any wait; after
        // the wait for the `101`, the next part's frames are read as WebSocket's too.
        let head = b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        let mut blob = head.to_vec();
        blob.extend(ws_text(b"early"));
        let wait = blob.len();
        blob.extend(ws_text(b"later"));
        let parts = [wait];
        let shape = Shape::conversation(&blob, &parts);
        let h = head.len();
        assert_eq!(shape.record_starts(), [0, 20, h, wait]);
        assert_eq!(
            shape.headers().len(),
            2,
            "both frames' headers are cut inside"
        );
    }

    /// The answers of an HTTP/2 server and of a WebSocket server, as client mode cuts them:
    /// their frames are the records, their headers cut inside; read as requests they were
    /// lines and NUL bytes.
    #[test]
    fn a_servers_answers_have_their_frames_as_records() {
        use crate::split::SplitMode;
        use crate::split::frames::tests::{SWITCHING, ws_answer};
        let mut h2_answers = h2(4, 0, 0, &[0, 3, 0, 0, 0, 100]);
        h2_answers.extend(h2(4, 1, 0, b""));
        h2_answers.extend(h2(1, 4, 1, b"\x88"));
        h2_answers.extend(h2(0, 1, 1, b"hello"));
        let mut ws_answers = SWITCHING.to_vec();
        let at = ws_answers.len();
        ws_answers.extend(ws_answer(b"hello"));
        ws_answers.extend(ws_answer(&[b'x'; 300]));
        let h2_headers = [(0, 9), (15, 9), (24, 9), (34, 9)];
        let ws_headers = [(at, 2), (at + 7, 4)];
        for (answers, expected) in [(&h2_answers, &h2_headers[..]), (&ws_answers, &ws_headers)] {
            let shape = Shape::answers(answers);
            let headers: Vec<(usize, usize)> =
                shape.headers().iter().map(|h| (h.at, h.header)).collect();
            assert_eq!(headers, expected);
            let starts = shape.record_starts();
            assert!(
                expected.iter().all(|(at, _)| starts.contains(at)),
                "{starts:?}"
            );
            assert!(Shape::plain(answers).headers().is_empty(), "as requests");
            let groups = shape.cut_groups();
            assert!(!groups.is_empty() && groups.iter().all(|g| g.start() > &0));
            // The default mix cuts after every byte of every header.
            let mut cut = std::collections::HashSet::new();
            for it in 0..2000 {
                let mut rng = crate::rng::Seed::new(4).case_rng("answers", it);
                let splits = crate::split::generate(SplitMode::Mixed, shape, it, 0, &mut rng);
                cut.extend(splits.boundaries());
            }
            for &(at, len) in expected {
                let inside = at + 1..at + len;
                assert!(inside.clone().all(|c| cut.contains(&c)), "{at}+{len}");
            }
        }
    }
}

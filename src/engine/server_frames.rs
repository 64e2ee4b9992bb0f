//! The HTTP/2 frames a server sent on one connection, read as its bytes come in, for a
//! conversation's frame waits (`#~ wait frame=SETTINGS`). Frames are read from the start of
//! the server's output, however its reads cut them, so a wait does not depend on how the
//! server merged its frames into writes; output that does not begin as an HTTP/2 server's
//! (its SETTINGS frame) has no frames, and a frame wait on it never ends before its limit.

use crate::split::http2::{self, FrameHeader, HEADER_LEN};

/// Frames kept for waits: older ones are dropped (a wait counts only what came since the
/// previous one ended).
const KEEP: usize = 4096;

/// The frames read so far.
#[derive(Default)]
pub(super) struct ServerFrames {
    /// The bytes of the frame header being read (fewer than 9).
    header: Vec<u8>,
    /// The frame whose payload is being read, and how many of its bytes are still to come.
    current: Option<(FrameHeader, usize)>,
    /// A frame header has been read: the output began as an HTTP/2 server's.
    began: bool,
    /// The output is no HTTP/2 server's: nothing more is read.
    off: bool,
    /// Each whole frame, with the count of the server's bytes at its end.
    ended: Vec<(u64, FrameHeader)>,
}

impl ServerFrames {
    /// The server sent `bytes`, after `before` bytes in all.
    pub(super) fn got(&mut self, mut bytes: &[u8], before: u64) {
        let mut at = before;
        while !self.off && !bytes.is_empty() {
            let take = match self.current {
                Some((_, left)) => left.min(bytes.len()),
                None => (HEADER_LEN - self.header.len()).min(bytes.len()),
            };
            let (now, rest) = bytes.split_at(take);
            bytes = rest;
            at += take as u64;
            match &mut self.current {
                Some((_, left)) => *left -= take,
                None => {
                    self.header.extend_from_slice(now);
                    self.header_read();
                }
            }
            if let Some((frame, 0)) = self.current {
                self.current = None;
                self.ended.push((at, frame));
                let excess = self.ended.len().saturating_sub(KEEP);
                self.ended.drain(..excess);
            }
        }
    }

    /// Takes the frame header once its 9 bytes are in; the first must be a server's
    /// SETTINGS, else the output is no HTTP/2 and reading stops.
    fn header_read(&mut self) {
        if self.header.len() < HEADER_LEN {
            return;
        }
        if !self.began && !http2::begins(&self.header) {
            self.off = true;
            return;
        }
        self.began = true;
        self.current = http2::header(&self.header).map(|h| (h, h.len));
        self.header.clear();
    }

    /// Whether a frame that `is` ended after the server had sent `since` bytes.
    pub(super) fn any_since(&self, since: u64, is: impl Fn(&FrameHeader) -> bool) -> bool {
        self.ended
            .iter()
            .any(|(end, frame)| *end > since && is(frame))
    }

    /// Forgets the frames that ended by `since`: no wait counts them any more.
    pub(super) fn forget_until(&mut self, since: u64) {
        self.ended.retain(|(end, _)| *end > since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::http2::tests::h2;
    use crate::split::http2::{ACK, HEADERS, SETTINGS};

    fn kinds(frames: &ServerFrames) -> Vec<(u64, u8, u8, u32)> {
        let all = frames.ended.iter();
        all.map(|(end, h)| (*end, h.kind, h.flags, h.stream))
            .collect()
    }

    /// A server's SETTINGS (6 bytes of payload), its ack of the client's (none), and a
    /// HEADERS answer on stream 1.
    fn answer() -> Vec<u8> {
        let mut out = h2(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        out.extend(h2(SETTINGS, ACK, 0, &[]));
        out.extend(h2(HEADERS, 5, 1, &[0x88]));
        out
    }

    #[test]
    fn frames_are_the_same_however_the_reads_cut_them() {
        let answer = answer();
        let expected = [
            (15, SETTINGS, 0, 0),
            (24, SETTINGS, ACK, 0),
            (34, HEADERS, 5, 1),
        ];
        for size in [1, 2, 5, 9, 10, 15, answer.len()] {
            let mut frames = ServerFrames::default();
            let mut before = 0;
            for read in answer.chunks(size) {
                frames.got(read, before);
                before += read.len() as u64;
            }
            assert_eq!(kinds(&frames), expected, "reads of {size}");
        }
    }

    #[test]
    fn a_frame_counts_after_the_bytes_it_ended_past() {
        let mut frames = ServerFrames::default();
        frames.got(&answer(), 0);
        let headers = |h: &FrameHeader| h.kind == HEADERS;
        assert!(frames.any_since(33, headers));
        assert!(!frames.any_since(34, headers), "ended before the wait did");
        frames.forget_until(24);
        assert_eq!(kinds(&frames), [(34, HEADERS, 5, 1)]);
    }

    #[test]
    fn output_that_is_no_http2_server_has_no_frames() {
        let mut frames = ServerFrames::default();
        let mut text = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
        text.extend(answer());
        frames.got(&text, 0);
        assert!(kinds(&frames).is_empty());
        // A client's preface is no server's answer either.
        let mut frames = ServerFrames::default();
        frames.got(&[http2::PREFACE, &answer()].concat(), 0);
        assert!(kinds(&frames).is_empty());
    }
}

//! Protocol failures in a server's answer: an HTTP/2 GOAWAY or RST_STREAM frame with an error
//! code, or a WebSocket close frame whose status says the server's parser broke. A server
//! that answers a split delivery so, where the blob sent whole got no such frame, read the
//! split wrong, even when no other oracle compares answers: the frame says so itself.
//!
//! Only answers that begin as these protocols' servers begin are read: an HTTP/2 server's
//! SETTINGS frame on stream 0, or a `101` response upgrading to WebSocket. Any other answer
//! (text, another binary protocol) has no protocol failure.

use super::framed::{self, http2, websocket};
pub(crate) use super::framed::{HTTP2, WEBSOCKET, code_name};
use super::{Baseline, FindingKind};

/// A failure frame found in an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// `HTTP/2` or `WebSocket`.
    pub(crate) protocol: &'static str,
    /// The frame: `GOAWAY`, `RST_STREAM` or `close`.
    pub(crate) what: &'static str,
    /// The error code (HTTP/2) or status code (WebSocket).
    pub(crate) code: u32,
}

/// WebSocket close codes that say the endpoint's parser failed.
const WS_FAILURES: [u32; 4] = [1002, 1007, 1009, 1011];

/// The first protocol failure in `answer`, if it is an HTTP/2 or WebSocket server's answer.
pub(crate) fn first_in(answer: &[u8]) -> Option<Failure> {
    if http2::begins(answer) {
        return http2_failure(answer);
    }
    let start = websocket::upgraded(answer)?;
    websocket_failure(&answer[start..])
}

/// The finding an answer `heard` is when it has a protocol failure and the blob's whole
/// answer, when one is known (`baseline`), has none. Without one, the verdict gate compares
/// it with fresh whole answers before it counts.
pub(crate) fn new_in(heard: &[u8], baseline: Option<&Baseline>) -> Option<FindingKind> {
    let Failure {
        protocol,
        what,
        code,
    } = first_in(heard)?;
    if baseline.is_some_and(|whole| first_in(&whole.bytes).is_some()) {
        return None;
    }
    Some(FindingKind::ProtocolFailure {
        protocol,
        what,
        code,
        answer: framed::view(heard).into_owned(),
    })
}

/// True when `heard` and the blob's whole answer (`baseline`) both have a protocol failure:
/// the server rejects the blob itself, however it is cut (`unsplit_fails=`, a warning).
/// Asked of every delivery that passed, so the whole answer is read only for one that has a
/// failure, as in [`new_in`].
pub(crate) fn whole_fails_too(heard: &[u8], baseline: Option<&Baseline>) -> bool {
    first_in(heard).is_some() && baseline.is_some_and(|whole| first_in(&whole.bytes).is_some())
}

/// The frame in words: `HTTP/2 GOAWAY (PROTOCOL_ERROR)`, `WebSocket close 1002 (protocol
/// error)`.
pub(crate) fn describe(protocol: &str, what: &str, code: u32) -> String {
    let name = code_name(protocol, code);
    if protocol == HTTP2 {
        format!("{protocol} {what} ({name})")
    } else {
        format!("{protocol} {what} {code} ({name})")
    }
}

/// The first GOAWAY or RST_STREAM with a nonzero error code among the whole frames of an
/// HTTP/2 answer.
fn http2_failure(answer: &[u8]) -> Option<Failure> {
    http2::frames(answer).0.into_iter().find_map(|frame| {
        let code = match (frame.kind, frame.stream) {
            (http2::GOAWAY, 0) => frame.payload.get(4..8),
            (http2::RST_STREAM, 1..) if frame.payload.len() == 4 => Some(frame.payload),
            _ => None,
        }?;
        let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
        let what = if frame.kind == http2::GOAWAY {
            "GOAWAY"
        } else {
            "RST_STREAM"
        };
        (code != 0).then_some(Failure {
            protocol: HTTP2,
            what,
            code,
        })
    })
}

/// The first close frame of a WebSocket server's frames, when its status is a protocol
/// failure.
fn websocket_failure(frames: &[u8]) -> Option<Failure> {
    let (frames, _) = websocket::frames(frames);
    let close = frames.iter().find(|f| f.opcode == websocket::CLOSE)?;
    let code = close
        .payload
        .get(..2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))?;
    WS_FAILURES.contains(&code).then_some(Failure {
        protocol: WEBSOCKET,
        what: "close",
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::http2::{GOAWAY, RST_STREAM, SETTINGS};
    use super::*;

    use crate::split::h2_frame as frame;

    fn goaway(code: u32) -> Vec<u8> {
        let mut payload = 1u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&code.to_be_bytes());
        frame(GOAWAY, 0, 0, &payload)
    }

    /// A server's SETTINGS, a SETTINGS ACK and a `:status 200` HEADERS, then `rest`.
    fn h2(rest: &[u8]) -> Vec<u8> {
        let mut out = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        out.extend(frame(SETTINGS, 1, 0, &[]));
        out.extend(frame(1, 5, 1, &[0x88]));
        out.extend_from_slice(rest);
        out
    }

    const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    fn ws(frames: &[u8]) -> Vec<u8> {
        let mut out = HEAD.to_vec();
        out.extend_from_slice(frames);
        out
    }

    fn failure(protocol: &'static str, what: &'static str, code: u32) -> Option<Failure> {
        Some(Failure {
            protocol,
            what,
            code,
        })
    }

    #[test]
    fn an_http2_goaway_with_an_error_code_is_a_failure() {
        assert_eq!(
            first_in(&h2(&goaway(1))),
            failure(HTTP2, "GOAWAY", 1),
            "PROTOCOL_ERROR"
        );
        assert_eq!(first_in(&h2(&goaway(0))), None, "NO_ERROR is a clean end");
        let mut both = goaway(0);
        both.extend(goaway(0xb));
        assert_eq!(first_in(&h2(&both)), failure(HTTP2, "GOAWAY", 0xb));
        // Debug data after the code is read past.
        let mut payload = [0, 0, 0, 1, 0, 0, 0, 9].to_vec();
        payload.extend_from_slice(b"header block too long");
        let mut with_data = frame(GOAWAY, 0, 0, &payload);
        with_data.extend(frame(SETTINGS, 1, 0, &[]));
        assert_eq!(first_in(&h2(&with_data)), failure(HTTP2, "GOAWAY", 9));
    }

    #[test]
    fn an_http2_rst_stream_with_an_error_code_is_a_failure() {
        let rst = frame(RST_STREAM, 0, 1, &8u32.to_be_bytes());
        assert_eq!(first_in(&h2(&rst)), failure(HTTP2, "RST_STREAM", 8));
        let clean = frame(RST_STREAM, 0, 1, &0u32.to_be_bytes());
        assert_eq!(first_in(&h2(&clean)), None);
        // On stream 0, or of the wrong length, it is no RST_STREAM a server sends.
        assert_eq!(first_in(&h2(&frame(RST_STREAM, 0, 0, &[0, 0, 0, 1]))), None);
        assert_eq!(first_in(&h2(&frame(RST_STREAM, 0, 1, &[0, 0, 1]))), None);
    }

    #[test]
    fn a_cut_off_http2_answer_has_no_failure_past_its_end() {
        let whole = h2(&goaway(1));
        for end in 0..whole.len() {
            assert_eq!(first_in(&whole[..end]), None, "cut at {end}");
        }
        assert_eq!(first_in(&whole), failure(HTTP2, "GOAWAY", 1));
    }

    #[test]
    fn an_answer_must_begin_with_a_servers_settings_to_be_http2() {
        // A GOAWAY alone, or a client's preface, is not an HTTP/2 server's answer.
        assert_eq!(first_in(&goaway(1)), None);
        let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        preface.extend(h2(&goaway(1)));
        assert_eq!(first_in(&preface), None);
        // SETTINGS on a stream, or with a partial setting, is not one either.
        let mut on_stream = frame(SETTINGS, 0, 1, &[]);
        on_stream.extend(goaway(1));
        assert_eq!(first_in(&on_stream), None);
        let mut partial = frame(SETTINGS, 0, 0, &[0, 3, 0]);
        partial.extend(goaway(1));
        assert_eq!(first_in(&partial), None);
    }

    #[test]
    fn a_websocket_close_with_a_protocol_error_is_a_failure() {
        for code in [1002u16, 1007, 1009, 1011] {
            let close = [&[0x88, 0x02][..], &code.to_be_bytes()].concat();
            assert_eq!(
                first_in(&ws(&close)),
                failure(WEBSOCKET, "close", u32::from(code))
            );
        }
        for code in [1000u16, 1001, 1008, 4000] {
            let close = [&[0x88, 0x02][..], &code.to_be_bytes()].concat();
            assert_eq!(first_in(&ws(&close)), None, "close {code}");
        }
        assert_eq!(first_in(&ws(&[0x88, 0x00])), None, "a close without status");
    }

    #[test]
    fn websocket_frames_before_the_close_are_read_past() {
        let mut frames = vec![0x81, 0x05];
        frames.extend_from_slice(b"hello");
        // A text frame of 200 bytes: a 16-bit length, whose bytes hold a close's first byte.
        frames.extend_from_slice(&[0x81, 126, 0, 200]);
        frames.extend(std::iter::repeat_n(0x88, 200));
        frames.extend_from_slice(&[0x8a, 0x00]);
        frames.extend_from_slice(&[0x88, 0x0f, 0x03, 0xea]);
        frames.extend_from_slice(b"bad frame len");
        assert_eq!(first_in(&ws(&frames)), failure(WEBSOCKET, "close", 1002));
        for end in HEAD.len()..HEAD.len() + frames.len() {
            assert_eq!(first_in(&ws(&frames)[..end]), None, "cut at {end}");
        }
        // A masked close (which a server must not send) is read through its key.
        let masked = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xea ^ 2];
        assert_eq!(first_in(&ws(&masked)), failure(WEBSOCKET, "close", 1002));
    }

    #[test]
    fn only_an_upgrade_to_websocket_is_read_as_websocket() {
        let close = [0x88, 0x02, 0x03, 0xea];
        let mut h2c = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n".to_vec();
        h2c.extend_from_slice(&close);
        assert_eq!(first_in(&h2c), None);
        let mut ok = b"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n\r\n".to_vec();
        ok.extend_from_slice(&close);
        assert_eq!(first_in(&ok), None);
        assert_eq!(first_in(&HEAD[..HEAD.len() - 1]), None);
    }

    #[test]
    fn answers_of_other_protocols_have_no_failure() {
        let answers: [&[u8]; 8] = [
            b"",
            b"+OK\r\n$5\r\nhello\r\n-ERR unknown command\r\n",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x00\x00\x00\x04",
            b"VALUE k 0 5\r\nhello\r\nEND\r\n",
            // memcached's binary answer: byte 3 is 4, its stream bytes 0.
            b"\x81\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
            b"\x00\x00\x06\x04\x00\x00\x00\x00",
        ];
        for answer in answers {
            assert_eq!(first_in(answer), None, "{}", answer.escape_ascii());
        }
    }

    #[test]
    fn codes_are_named_as_their_specifications_spell_them() {
        assert_eq!(code_name(HTTP2, 1), "PROTOCOL_ERROR");
        assert_eq!(code_name(HTTP2, 0xd), "HTTP_1_1_REQUIRED");
        assert_eq!(code_name(HTTP2, 0x2a), "error code 0x2a");
        assert_eq!(code_name(WEBSOCKET, 1002), "protocol error");
        assert_eq!(code_name(WEBSOCKET, 1011), "internal error");
    }
}

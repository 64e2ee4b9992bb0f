use loona_hpack::Encoder;

use super::http2::{CONTINUATION, DATA, GOAWAY, HEADERS, RST_STREAM, SETTINGS};
use super::*;

const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;

use crate::split::h2_frame as frame;

/// What an HTTP/2 server says to requests on streams 1, 3 and 5, each answered by its
/// path, in the order `order`, with its acks and window updates where `noise` puts them
/// (0: before the answers, 1: between, 2: after), and its DATA in frames of `chunk` bytes.
fn h2_answer(order: &[u32], noise: usize, chunk: usize) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut out = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
    let acks = [
        frame(SETTINGS, 1, 0, &[]),
        frame(PING, 1, 0, b"12345678"),
        frame(WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]),
    ]
    .concat();
    if noise == 0 {
        out.extend_from_slice(&acks);
    }
    for (i, &stream) in order.iter().enumerate() {
        let body = format!("hello from stream {stream}, a body long enough to be cut");
        let length = body.len().to_string();
        let headers = [
            (&b":status"[..], &b"200"[..]),
            (b"content-type", b"text/plain"),
            (b"content-length", length.as_bytes()),
        ];
        let block = encoder.encode(headers.iter().copied());
        out.extend(frame(HEADERS, 0x4, stream, &block));
        let pieces: Vec<&[u8]> = body.as_bytes().chunks(chunk).collect();
        for (j, piece) in pieces.iter().enumerate() {
            let end = if j + 1 == pieces.len() { 1 } else { 0 };
            out.extend(frame(DATA, end, stream, piece));
        }
        if noise == 1 && i == 0 {
            out.extend_from_slice(&acks);
        }
    }
    if noise == 2 {
        out.extend_from_slice(&acks);
    }
    out
}

fn text(view: Cow<'_, [u8]>) -> String {
    String::from_utf8(view.into_owned()).unwrap()
}

#[test]
fn http2_answers_are_the_same_whatever_the_order_of_streams_acks_and_data_frames() {
    let whole = view(&h2_answer(&[1, 3, 5], 0, 100)).into_owned();
    for order in [[1, 3, 5], [5, 3, 1], [3, 1, 5]] {
        for noise in 0..3 {
            for chunk in [1, 7, 100] {
                let split = h2_answer(&order, noise, chunk);
                assert_eq!(
                    view(&split),
                    whole,
                    "order {order:?}, acks at {noise}, DATA in {chunk}-byte frames"
                );
            }
        }
    }
    let shown = text(view(&h2_answer(&[1, 3, 5], 0, 100)));
    assert!(
        shown.starts_with(
            "settings: MAX_CONCURRENT_STREAMS=100\nstream 1 headers:\n  :status: 200\n  content-type: text/plain\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("stream 3 data (49 bytes):\nhello from stream 3, a body long enough to be cut\nstream 3 ended\n"),
        "{shown}"
    );
}

#[test]
fn what_a_client_acts_on_still_counts() {
    let whole = view(&h2_answer(&[1, 3, 5], 0, 100)).into_owned();
    // Another status, another body, a stream missing, a reset, a GOAWAY: all differ.
    let other_status = h2_answer(&[1, 3, 5], 0, 100);
    let mut changed = other_status.clone();
    let at = changed
        .windows(b"stream 3".len())
        .position(|w| w == b"stream 3")
        .unwrap();
    changed[at + 7] = b'4';
    assert_ne!(view(&changed), whole, "a body byte");
    assert_ne!(view(&h2_answer(&[1, 3], 0, 100)), whole, "a stream missing");
    let mut reset = h2_answer(&[1, 3, 5], 0, 100);
    reset.extend(frame(RST_STREAM, 0, 3, &8u32.to_be_bytes()));
    assert!(text(view(&reset)).contains("stream 3 reset: CANCEL\n"));
    // NO_ERROR after a whole answer (sent before the request was whole) says nothing more;
    // before the answer ended it says the answer was cut short.
    let mut early = h2_answer(&[1, 3, 5], 0, 100);
    early.extend(frame(RST_STREAM, 0, 3, &0u32.to_be_bytes()));
    assert_eq!(view(&early), whole);
    let mut cut_short = frame(SETTINGS, 0, 0, &[]);
    cut_short.extend(frame(DATA, 0, 1, b"half"));
    cut_short.extend(frame(RST_STREAM, 0, 1, &0u32.to_be_bytes()));
    assert!(text(view(&cut_short)).contains("stream 1 reset: NO_ERROR\n"));
    let mut goaway = h2_answer(&[1, 3, 5], 0, 100);
    goaway.extend(frame(GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 1]));
    assert!(
        text(view(&goaway)).ends_with("goaway: PROTOCOL_ERROR, last stream 5\n")
            || text(view(&goaway)).contains("goaway: PROTOCOL_ERROR, last stream 5\n")
    );
}

#[test]
fn a_header_block_in_continuation_frames_reads_as_one() {
    let mut encoder = Encoder::new();
    let block = encoder.encode([(&b":status"[..], &b"404"[..]), (b"server", b"x")]);
    let mut split = frame(SETTINGS, 0, 0, &[]);
    split.extend(frame(HEADERS, 0x1, 1, &block[..2]));
    split.extend(frame(CONTINUATION, 0, 1, &block[2..3]));
    split.extend(frame(CONTINUATION, 0x4, 1, &block[3..]));
    let mut whole = frame(SETTINGS, 0, 0, &[]);
    whole.extend(frame(HEADERS, 0x5, 1, &block));
    assert_eq!(view(&split), view(&whole));
    assert_eq!(
        text(view(&whole)),
        "settings: none\nstream 1 headers:\n  :status: 404\n  server: x\nstream 1 ended\n"
    );
    // Cut before its last CONTINUATION: not said yet.
    let cut = &split[..split.len() - (block.len() - 3) - 9];
    assert_eq!(text(view(cut)), "settings: none\n");
}

#[test]
fn an_answer_cut_off_counts_only_its_whole_frames() {
    let answer = h2_answer(&[1, 3, 5], 2, 100);
    let mut last = 0;
    for end in 9..=answer.len() {
        let len = view(&answer[..end]).len();
        assert!(
            len >= last,
            "the counted length never shrinks (cut at {end})"
        );
        last = len;
    }
    // Cut inside the acks after the last stream: all that counts has come.
    assert_eq!(view(&answer[..answer.len() - 3]), view(&answer));
    // Cut inside the last DATA frame: its stream's body is not whole.
    let acks = 9 + 17 + 13;
    let cut = view(&answer[..answer.len() - acks - 1]);
    assert!(cut.len() < view(&answer).len());
    assert!(!text(cut).contains("stream 5 data"));
}

fn ws(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        .to_vec();
    for frame in frames {
        out.extend_from_slice(frame);
    }
    out
}

#[test]
fn websocket_messages_are_the_same_however_fragmented_and_wherever_the_pong() {
    let whole = ws(&[
        b"\x81\x05hello",
        b"\x8a\x02hi",
        b"\x82\x03\x00\x01\x02",
        b"\x88\x02\x03\xe8",
    ]);
    let fragmented = ws(&[
        b"\x01\x02he",
        b"\x00\x01l",
        b"\x8a\x02hi",
        b"\x80\x02lo",
        b"\x02\x01\x00",
        b"\x80\x02\x01\x02",
        b"\x88\x02\x03\xe8",
    ]);
    assert_eq!(view(&fragmented), view(&whole));
    let shown = text(view(&whole));
    assert!(
        shown.ends_with(
            "\r\n\r\nmessage 1 (text, 5 bytes):\nhello\nmessage 2 (binary, 3 bytes):\n\x00\x01\x02\n\
             control frames, by kind:\npong (2 bytes): hi\nclose 1000 (normal closure)\n"
        ),
        "{shown:?}"
    );
    // Another message, another close, a message left open: all differ.
    let other = ws(&[
        b"\x81\x05hellO",
        b"\x8a\x02hi",
        b"\x82\x03\x00\x01\x02",
        b"\x88\x02\x03\xe8",
    ]);
    assert_ne!(view(&other), view(&whole));
    let closed = ws(&[
        b"\x81\x05hello",
        b"\x8a\x02hi",
        b"\x82\x03\x00\x01\x02",
        b"\x88\x02\x03\xea",
    ]);
    assert_ne!(view(&closed), view(&whole));
    let open = ws(&[b"\x81\x05hello", b"\x02\x01\x00"]);
    assert!(
        text(view(&open)).ends_with("hello\n"),
        "a message not finished is not said yet"
    );
}

#[test]
fn other_answers_are_compared_as_they_are() {
    for answer in [
        &b"+OK\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00",
        b"\x81\x00\x00\x04\x00\x00\x00\x00\x00",
    ] {
        assert!(matches!(view(answer), Cow::Borrowed(b) if b == answer));
        assert_eq!(protocol(answer), None);
    }
    assert_eq!(protocol(&h2_answer(&[1], 0, 10)), Some(HTTP2));
    assert_eq!(protocol(&ws(&[])), Some(WEBSOCKET));
}

#[test]
fn a_header_block_that_does_not_decode_is_said_and_so_are_those_after_it() {
    let mut answer = frame(SETTINGS, 0, 0, &[]);
    // Index 70 is past the static table, with nothing in the dynamic one.
    answer.extend(frame(HEADERS, 0x4, 1, &[0x80 | 70]));
    answer.extend(frame(HEADERS, 0x4, 3, &[0x88]));
    let shown = text(view(&answer));
    assert!(
        shown.contains("stream 1 headers:\n  not decodable: "),
        "{shown}"
    );
    assert!(
        shown.contains("stream 3 headers:\n  not decodable: a header block before was not"),
        "{shown}"
    );
}

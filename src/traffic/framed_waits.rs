//! Recorded waits said in a framed protocol's terms. A recording knows a turn as a byte
//! count of the server's output (`#~ wait bytes=N`), but an HTTP/2 server's output differs
//! between servers (its SETTINGS, its header compression) and with how it merges its frames,
//! and a WebSocket server's `101` head differs in its headers; such a count breaks against
//! any server but the recorded one. So where the recorded server spoke HTTP/2, a turn waits
//! for the frame the client waited for: `frame=HEADERS` when an answer's head came in the
//! turn, else `frame=SETTINGS` when the ack of the client's SETTINGS did; a turn in which
//! neither came (the server's own SETTINGS, a PING's ack) is no wait at all, as HTTP/2 lets
//! a client go on without one and any count would be the recorded server's alone. Where the
//! client upgraded to WebSocket and the server said `101`, the turn right after the request
//! waits for the end of that head (`pattern=%0D%0A%0D%0A`, the one spelling the guide
//! gives). Any other turn keeps its byte count.

use crate::corpus::{Http2Frame, RecordedAnswer, WaitFor, WaitPoint};
use crate::split::http2::{self, ACK, HEADERS, PREFACE, SETTINGS};
use crate::split::{Direction, upgrade_head};

/// The end of an HTTP head: what a WebSocket conversation waits for after its upgrade
/// request.
const HEAD_END: &[u8] = b"\r\n\r\n";

/// `waits` (byte counts, as recorded) of a connection whose client sent `bytes` and whose
/// server sent `heard`, in its protocol's terms where it speaks HTTP/2 or WebSocket.
pub(super) fn in_protocol_terms(
    bytes: &[u8],
    waits: &[WaitPoint],
    heard: &[RecordedAnswer],
) -> Vec<WaitPoint> {
    let answer: Vec<u8> = heard.iter().flat_map(|h| h.bytes.iter().copied()).collect();
    if bytes.starts_with(PREFACE) && http2::begins(&answer) {
        return http2_waits(waits, &answer);
    }
    if let Some(head) = upgrade_head(bytes, Direction::Requests)
        && let Some(answered) = upgrade_head(&answer, Direction::Answers)
    {
        let answered = answered as u64;
        return waits
            .iter()
            .map(|wait| match wait.until {
                WaitFor::Bytes(n) if wait.at == head && n >= answered => WaitPoint {
                    at: wait.at,
                    until: WaitFor::Pattern(HEAD_END.to_vec()),
                },
                _ => wait.clone(),
            })
            .collect();
    }
    waits.to_vec()
}

/// Each byte-count wait as the frame that came in its turn (since the previous wait's
/// count): an answer's HEADERS, else the ack of the client's SETTINGS; else none.
fn http2_waits(waits: &[WaitPoint], answer: &[u8]) -> Vec<WaitPoint> {
    // Each whole frame, with the count of the server's bytes at its end.
    let mut end = 0;
    let frames: Vec<(u64, http2::Frame<'_>)> = http2::frames(answer)
        .0
        .into_iter()
        .map(|frame| {
            end += (http2::HEADER_LEN + frame.payload.len()) as u64;
            (end, frame)
        })
        .collect();
    let mut turn_began = 0;
    let mut out = Vec::with_capacity(waits.len());
    for wait in waits {
        let WaitFor::Bytes(n) = wait.until else {
            out.push(wait.clone());
            continue;
        };
        let came = |kind: u8, flags: u8| {
            frames.iter().any(|(end, h)| {
                (turn_began + 1..=n).contains(end) && h.kind == kind && h.flags & flags == flags
            })
        };
        let frame = if came(HEADERS, 0) {
            Some(Http2Frame::Headers { stream: None })
        } else if came(SETTINGS, ACK) {
            Some(Http2Frame::SettingsAck)
        } else {
            None
        };
        out.extend(frame.map(|frame| WaitPoint {
            at: wait.at,
            until: WaitFor::Frame(frame),
        }));
        turn_began = n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::http2::tests::h2;

    fn wait(at: usize, until: WaitFor) -> WaitPoint {
        WaitPoint { at, until }
    }

    #[test]
    fn http2_turns_wait_for_the_settings_ack_and_the_answers_headers() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(h2(SETTINGS, 0, 0, &[]));
        let settings_sent = bytes.len();
        bytes.extend(h2(HEADERS, 5, 1, b"\x82\x86\x84"));
        let asked = bytes.len();
        bytes.extend(h2(SETTINGS, ACK, 0, &[]));
        // The server's SETTINGS (15 bytes) and its ack (9), then the answer (10), then a
        // PING (17) the client's last bytes followed; the client waited for the server's
        // SETTINGS before it began.
        let mut answer = h2(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        answer.extend(h2(SETTINGS, ACK, 0, &[]));
        answer.extend(h2(HEADERS, 5, 1, b"\x88"));
        answer.extend(h2(6, 0, 0, &[0; 8]));
        let heard = [RecordedAnswer {
            at: 0,
            bytes: answer,
        }];
        let recorded = [
            wait(0, WaitFor::Bytes(15)),
            wait(settings_sent, WaitFor::Bytes(24)),
            wait(asked, WaitFor::Bytes(34)),
            wait(bytes.len(), WaitFor::Bytes(51)),
        ];
        assert_eq!(
            in_protocol_terms(&bytes, &recorded, &heard),
            [
                wait(settings_sent, WaitFor::Frame(Http2Frame::SettingsAck)),
                wait(asked, WaitFor::Frame(Http2Frame::Headers { stream: None })),
            ]
        );
        // A server that does not answer as HTTP/2 keeps its byte counts.
        let text = [RecordedAnswer {
            at: 0,
            bytes: b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
        }];
        assert_eq!(in_protocol_terms(&bytes, &recorded, &text), recorded);
    }

    #[test]
    fn a_websocket_upgrade_waits_for_the_end_of_the_101_head() {
        let mut bytes = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let head = bytes.len();
        bytes.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let head_answered = answer.len() as u64;
        answer.extend_from_slice(&[0x81, 2, b'h', b'i']);
        let heard = [RecordedAnswer {
            at: head,
            bytes: answer,
        }];
        let recorded = [
            wait(head, WaitFor::Bytes(head_answered)),
            wait(bytes.len(), WaitFor::Bytes(head_answered + 4)),
        ];
        assert_eq!(
            in_protocol_terms(&bytes, &recorded, &heard),
            [
                wait(head, WaitFor::Pattern(b"\r\n\r\n".to_vec())),
                recorded[1].clone(),
            ]
        );
        // Refused (no 101): the count stays.
        let refused = [RecordedAnswer {
            at: head,
            bytes: b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
        }];
        assert_eq!(in_protocol_terms(&bytes, &recorded, &refused), recorded);
    }
}

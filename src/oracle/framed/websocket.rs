//! A WebSocket server's answer, frame by frame, and what it says: the head of its `101`
//! answer, then each message whole (its fragments joined), then the control frames by kind
//! and the close. A server may fragment a message as it likes and answer a ping between
//! messages or after them; neither changes what it said.

use std::borrow::Cow;
use std::io::Write as _;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;

/// One whole frame, its payload unmasked.
#[derive(Clone, Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Cow<'a, [u8]>,
}

/// The offset where the frames begin: after the head of a `101` answer upgrading to
/// WebSocket (its `Upgrade:` header), when `answer` begins with one.
pub(crate) fn upgraded(answer: &[u8]) -> Option<usize> {
    if !answer.starts_with(b"HTTP/1.1 101") {
        return None;
    }
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &answer[..end];
    std::str::from_utf8(head).ok()?;
    let upgrades = crate::split::websocket::header_values(head, b"upgrade")
        .any(|value| head[value].eq_ignore_ascii_case(b"websocket"));
    upgrades.then_some(end + 4)
}

/// The frame beginning `bytes` and its length, when it is all there.
fn frame_at(bytes: &[u8]) -> Option<(Frame<'_>, usize)> {
    let h = crate::split::websocket::header(bytes)?;
    // A server must not mask its frames; one that does is read through its key all the same.
    let key: Option<[u8; 4]> = match h.masked {
        true => Some(bytes.get(h.len - 4..h.len)?.try_into().ok()?),
        false => None,
    };
    let end = h.len.checked_add(h.payload)?;
    let raw = bytes.get(h.len..end)?;
    let payload = match key {
        Some(key) => Cow::Owned(
            raw.iter()
                .zip(key.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect(),
        ),
        None => Cow::Borrowed(raw),
    };
    let frame = Frame {
        fin: h.fin,
        opcode: h.opcode,
        payload,
    };
    Some((frame, end))
}

/// The whole frames of `frames` from its start, and the offset where they end.
pub(crate) fn frames(bytes: &[u8]) -> (Vec<Frame<'_>>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((frame, len)) = frame_at(&bytes[at..]) {
        at += len;
        out.push(frame);
    }
    (out, at)
}

/// `answer`, a WebSocket server's whose frames begin at `start`, as what it says (see the
/// module's doc). Only whole messages count: what is cut off is not said yet.
pub(crate) fn view(answer: &[u8], start: usize) -> Vec<u8> {
    let (frames, _) = frames(&answer[start..]);
    let mut out = answer[..start].to_vec();
    let mut controls: Vec<Vec<u8>> = Vec::new();
    let mut closes: Vec<Vec<u8>> = Vec::new();
    let mut message: Option<(u8, Vec<u8>)> = None;
    let mut count = 0;
    for frame in frames {
        match frame.opcode {
            TEXT | BINARY | CONTINUATION => {
                let (kind, mut body) = match (frame.opcode, message.take()) {
                    (CONTINUATION, Some(open)) => open,
                    (CONTINUATION, None) => (CONTINUATION, Vec::new()),
                    (opcode, _) => (opcode, Vec::new()),
                };
                body.extend_from_slice(&frame.payload);
                if frame.fin {
                    count += 1;
                    let _ = writeln!(
                        out,
                        "message {count} ({}, {} bytes):",
                        kind_name(kind),
                        body.len()
                    );
                    out.extend_from_slice(&body);
                    out.push(b'\n');
                } else {
                    message = Some((kind, body));
                }
            }
            CLOSE => closes.push(close_line(&frame.payload)),
            opcode => {
                let mut line =
                    format!("{} ({} bytes): ", control_name(opcode), frame.payload.len())
                        .into_bytes();
                line.extend_from_slice(&frame.payload);
                line.push(b'\n');
                controls.push(line);
            }
        }
    }
    if !controls.is_empty() {
        controls.sort();
        out.extend_from_slice(b"control frames, by kind:\n");
        out.extend(controls.concat());
    }
    out.extend(closes.concat());
    out
}

fn kind_name(opcode: u8) -> &'static str {
    match opcode {
        TEXT => "text",
        BINARY => "binary",
        _ => "continuation without a first frame",
    }
}

fn control_name(opcode: u8) -> String {
    match opcode {
        0x9 => "ping".to_owned(),
        0xa => "pong".to_owned(),
        other => format!("opcode {other:#x}"),
    }
}

fn close_line(payload: &[u8]) -> Vec<u8> {
    let Some(code) = payload.get(..2) else {
        return b"close, no status\n".to_vec();
    };
    let code = u32::from(u16::from_be_bytes([code[0], code[1]]));
    let name = super::code_name(super::WEBSOCKET, code);
    let mut line = format!("close {code} ({name})").into_bytes();
    if payload.len() > 2 {
        line.extend_from_slice(b": ");
        line.extend_from_slice(&payload[2..]);
    }
    line.push(b'\n');
    line
}

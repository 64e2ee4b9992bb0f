//! Answers of framed protocols read as what they say, not as bytes. An HTTP/2 or WebSocket
//! server answers one request in many correct byte sequences (streams in any order, frames
//! merged or split, acknowledgements anywhere), so its answer to a split delivery is
//! compared with its answer to the blob sent whole through a view of each: per stream (for
//! HTTP/2, its headers HPACK-decoded) or per message (for WebSocket), in a fixed order.
//! The view is text, so what varies by itself (a `date` header) is learnt and masked as in
//! any text answer, and a report shows what differs in words.
//!
//! An answer is read so when it begins as these protocols' servers begin: an HTTP/2
//! server's SETTINGS frame on stream 0, or a `101` answer upgrading to WebSocket. Any
//! other answer is compared as it is.

use std::borrow::Cow;

pub(crate) mod http2;
pub(crate) mod websocket;

pub(crate) const HTTP2: &str = "HTTP/2";
pub(crate) const WEBSOCKET: &str = "WebSocket";

/// The framed protocol `answer` is a server's answer in, if any.
pub(crate) fn protocol(answer: &[u8]) -> Option<&'static str> {
    if http2::begins(answer) {
        Some(HTTP2)
    } else if websocket::upgraded(answer).is_some() {
        Some(WEBSOCKET)
    } else {
        None
    }
}

/// How a report names the reading of an answer of `protocol`: `read as HTTP/2 streams`.
pub(crate) fn read_as(protocol: &str) -> &'static str {
    if protocol == HTTP2 {
        "read as HTTP/2 streams"
    } else {
        "read as WebSocket messages"
    }
}

/// What that reading keeps and leaves out, for a report's reader.
pub(crate) fn reading(protocol: &str) -> &'static str {
    if protocol == HTTP2 {
        "streams in order of their number, headers HPACK-decoded, DATA frames joined; \
         SETTINGS and PING acks, PINGs and WINDOW_UPDATEs left out, as their place may vary"
    } else {
        "each message whole, its fragments joined; pings and pongs by kind after them, as \
         their place may vary"
    }
}

/// `answer` as it is compared, and counted while it comes: an HTTP/2 or WebSocket server's
/// as what its whole frames say, any other as it is.
pub(crate) fn view(answer: &[u8]) -> Cow<'_, [u8]> {
    if http2::begins(answer) {
        return Cow::Owned(http2::view(answer));
    }
    match websocket::upgraded(answer) {
        Some(start) => Cow::Owned(websocket::view(answer, start)),
        None => Cow::Borrowed(answer),
    }
}

/// The name of `code` of `protocol`, as its specification spells it.
pub(crate) fn code_name(protocol: &str, code: u32) -> String {
    const HTTP2_CODES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    let known = if protocol == HTTP2 {
        HTTP2_CODES.get(code as usize).copied()
    } else {
        match code {
            1000 => Some("normal closure"),
            1001 => Some("going away"),
            1002 => Some("protocol error"),
            1003 => Some("unsupported data"),
            1007 => Some("invalid payload data"),
            1008 => Some("policy violation"),
            1009 => Some("message too big"),
            1011 => Some("internal error"),
            _ => None,
        }
    };
    match known {
        Some(name) => name.to_owned(),
        None if protocol == HTTP2 => format!("error code {code:#x}"),
        None => format!("status {code}"),
    }
}

#[cfg(test)]
mod tests;

//! A recorded `101` answer to a WebSocket upgrade carries the accept value of the key the
//! recorded client sent (`Sec-WebSocket-Accept`, RFC 6455 section 4.2.2). A real client
//! draws a fresh key on every connection and closes on any other value, so the stand-in
//! answers with the accept value of the key this client sent. The value has one length
//! whatever the key, so the answer's cuts stay where the case puts them.

use std::borrow::Cow;

use base64::Engine as _;

/// What RFC 6455 appends to the client's key before hashing it.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `answer` with its `Sec-WebSocket-Accept` value made for the last `Sec-WebSocket-Key` in
/// `requested` (what the client sent so far); as it is when either is missing.
pub(super) fn for_this_client<'a>(answer: &'a [u8], requested: &[u8]) -> Cow<'a, [u8]> {
    let (Some(key), Some(value)) = (
        last_value(requested, b"sec-websocket-key"),
        last_value(answer, b"sec-websocket-accept"),
    ) else {
        return Cow::Borrowed(answer);
    };
    let accept = accept_value(&requested[key]);
    if answer[value.clone()] == *accept.as_bytes() || value.len() != accept.len() {
        return Cow::Borrowed(answer);
    }
    let mut out = answer.to_vec();
    out[value].copy_from_slice(accept.as_bytes());
    Cow::Owned(out)
}

/// The `Sec-WebSocket-Accept` value for a client's `key`.
fn accept_value(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// Where the value of the last header line `name` of `bytes` lies.
fn last_value(bytes: &[u8], name: &[u8]) -> Option<std::ops::Range<usize>> {
    crate::split::websocket::header_values(bytes, name).last()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";

    #[test]
    fn the_accept_value_answers_this_clients_key() {
        // RFC 6455's own example key gives the recorded value: nothing to change.
        let recorded = b"GET / HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert!(matches!(
            for_this_client(ANSWER, recorded),
            Cow::Borrowed(_)
        ));
        let fresh = b"GET / HTTP/1.1\r\nsec-websocket-key:  x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n";
        let answered = for_this_client(ANSWER, fresh);
        assert_eq!(
            answered.len(),
            ANSWER.len(),
            "the cuts stay where they were"
        );
        let text = String::from_utf8_lossy(&answered);
        // The value RFC 6455 gives for that key (section 1.3's second example).
        assert!(
            text.contains("Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n"),
            "{text}"
        );
        assert!(answered.ends_with(b"\x81\x02hi"));
    }

    #[test]
    fn other_answers_are_served_as_recorded() {
        let key = b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n";
        assert!(matches!(for_this_client(b"+OK\r\n", key), Cow::Borrowed(_)));
        assert!(matches!(
            for_this_client(ANSWER, b"GET / HTTP/1.1\r\n\r\n"),
            Cow::Borrowed(_)
        ));
    }
}

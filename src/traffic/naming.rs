//! A recorded blob's file name: its number, so names sort by time, then what it is, so a
//! folder of recordings reads as a list of requests.

/// A blob's file name: its number, then what it is. A text request gives its first word
/// with a letter (`0007-set`, `0012-ping` for RESP), and an HTTP request its method and path
/// (`0003-get-index-html`), an HTTP/2 connection the method and path of its first request
/// (`0003-h2-get-index-html`); a binary one (its first byte not printable text) the hex of its
/// first bytes (`0004-bin-00030102`). Letters and digits, lower case, at most 40 in all.
pub(super) fn blob_name(number: usize, bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(256)];
    let text = head.first().is_none_or(|b| b.is_ascii_graphic());
    let what = if let Some(request) = http2::first_request(bytes) {
        request
    } else if !text {
        let hex: String = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("bin-{hex}")
    } else if let Some(target) = http_target(head) {
        target
    } else {
        head.split(|b| !b.is_ascii_alphanumeric())
            .find(|w| w.iter().any(u8::is_ascii_alphabetic))
            .map(|w| {
                w.iter()
                    .take(16)
                    .map(|b| b.to_ascii_lowercase() as char)
                    .collect()
            })
            .unwrap_or_else(|| "data".to_owned())
    };
    format!("{number:04}-{what}")
}

/// The words of `path` after `method`, lower case, joined with `-`: `get-index-html`.
fn method_and_path(method: &[u8], path: &[u8]) -> String {
    let mut name = String::from_utf8_lossy(method).to_ascii_lowercase();
    for part in path
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        name.push('-');
        name.extend(part.iter().map(|b| b.to_ascii_lowercase() as char));
    }
    name.truncate(40);
    name
}

/// `get-index-html` for a request line `GET /index.html HTTP/1.1`; `None` for other text.
fn http_target(head: &[u8]) -> Option<String> {
    let line = head.split(|&b| b == b'\n').next()?;
    let mut words = line.split(|&b| b == b' ');
    let (method, path, version) = (words.next()?, words.next()?, words.next()?);
    if !version.starts_with(b"HTTP/") || !method.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    Some(method_and_path(method, path))
}

/// HTTP/2 connections, named by their first request.
mod http2 {
    use crate::split::http2::{PREFACE, header_blocks};

    /// `h2-get-index-html` for an HTTP/2 connection (it begins with the client preface) whose
    /// first request is `GET /index.html`; `h2` when no request is read whole. Header blocks
    /// are decoded in order with one decoder, as the server would (a later block may refer
    /// to what an earlier one added to the table); `None` for other traffic.
    pub(super) fn first_request(bytes: &[u8]) -> Option<String> {
        if !bytes.starts_with(PREFACE) {
            return None;
        }
        let mut decoder = loona_hpack::Decoder::new();
        for block in header_blocks(bytes) {
            let Ok(headers) = decoder.decode(&block) else {
                break; // the table is lost from here on
            };
            let value = |name: &[u8]| {
                let found = headers.iter().find(|(n, _)| n.as_slice() == name);
                found.map(|(_, v)| v.clone())
            };
            if let (Some(method), Some(path)) = (value(b":method"), value(b":path")) {
                let named = super::method_and_path(&method, &path);
                return Some(format!("h2-{named}").chars().take(40).collect());
            }
        }
        Some("h2".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_number_and_say_what_the_blob_is() {
        assert_eq!(blob_name(7, b"SET k v\r\n"), "0007-set");
        assert_eq!(blob_name(12, b"*1\r\n$4\r\nPING\r\n"), "0012-ping");
        assert_eq!(blob_name(3, &[0, 1, 255]), "0003-bin-0001ff");
        assert_eq!(
            blob_name(4, b"GET /static/app.js?v=2 HTTP/1.1\r\nHost: x\r\n\r\n"),
            "0004-get-static-app-js-v-2"
        );
        assert_eq!(blob_name(5, &[0, 3, b'a', b'b', b'c']), "0005-bin-00036162");
        assert_eq!(blob_name(6, b""), "0006-data");
    }

    #[test]
    fn an_http2_connection_is_named_by_its_first_request() {
        use crate::split::http2::tests::h2;
        use crate::split::http2::{HEADERS, PREFACE, SETTINGS};
        let mut bytes = PREFACE.to_vec();
        bytes.extend(h2(SETTINGS, 0, 0, &[]));
        // :method GET, :scheme http, :path /index.html (literal, added to the table).
        bytes.extend(h2(HEADERS, 5, 1, b"\x82\x86\x44\x0b/index.html"));
        assert_eq!(blob_name(3, &bytes), "0003-h2-get-index-html");
        // The table is kept from block to block: a request whose path comes from it (index
        // 62, what the block before added) is named by that path.
        let mut later = PREFACE.to_vec();
        later.extend(h2(HEADERS, 5, 1, b"\x44\x0b/index.html"));
        later.extend(h2(HEADERS, 5, 3, b"\x83\x86\xbe"));
        assert_eq!(blob_name(3, &later), "0003-h2-post-index-html");
        // The preface alone, or a block that does not decode, names the protocol only.
        assert_eq!(blob_name(4, PREFACE), "0004-h2");
        let mut bad = PREFACE.to_vec();
        bad.extend(h2(HEADERS, 5, 1, b"\xff"));
        assert_eq!(blob_name(5, &bad), "0005-h2");
    }
}

//! An HTTP/2 server's answer, frame by frame, and what it says: per stream its headers
//! (decoded with HPACK), its body and how it ended, in the order of the streams' numbers.
//! Two correct answers to one request may differ in every byte and still say the same: the
//! server may answer streams in any order, merge or split DATA frames, acknowledge SETTINGS
//! and PING where it likes, open its window when it likes, and its HPACK encoder's table
//! changes what the same header costs. The view keeps only what a client acts on.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use crate::split::http2::{ACK, END_HEADERS, END_STREAM, Frame, PRIORITY, unpadded};
pub(crate) use crate::split::http2::{
    CONTINUATION, DATA, GOAWAY, HEADERS, PUSH_PROMISE, RST_STREAM, SETTINGS, begins, frames,
};

/// What one stream said.
#[derive(Default)]
struct Stream {
    /// Header blocks before any data, each rendered; those after data (trailers) below.
    heads: Vec<Vec<u8>>,
    body: Vec<u8>,
    trailers: Vec<Vec<u8>>,
    ended: bool,
    reset: Option<u32>,
}

/// A header block being gathered from a HEADERS (or PUSH_PROMISE) frame and the
/// CONTINUATION frames after it.
struct Block {
    stream: u32,
    fragment: Vec<u8>,
    /// The stream a PUSH_PROMISE promises.
    promised: Option<u32>,
    /// The HEADERS frame ended its stream.
    ends_stream: bool,
}

/// The view being built: connection-level lines, streams by number, the HPACK state.
struct View {
    connection: String,
    streams: BTreeMap<u32, Stream>,
    decoder: loona_hpack::Decoder<'static>,
    /// Why header blocks can no longer be decoded (the table's state is lost).
    undecodable: Option<String>,
    block: Option<Block>,
}

/// `answer`, an HTTP/2 server's, as what it says (see the module's doc). Only whole frames
/// and header blocks count: what is cut off is not said yet, and the same view says how
/// much of an answer has come.
pub(crate) fn view(answer: &[u8]) -> Vec<u8> {
    let (frames, _) = frames(answer);
    let mut view = View {
        connection: String::new(),
        streams: BTreeMap::new(),
        decoder: loona_hpack::Decoder::new(),
        undecodable: None,
        block: None,
    };
    for frame in frames {
        view.take(frame);
    }
    let mut out = view.connection.into_bytes();
    for (number, stream) in &view.streams {
        render_stream(&mut out, *number, stream);
    }
    out
}

impl View {
    fn stream(&mut self, number: u32) -> &mut Stream {
        self.streams.entry(number).or_default()
    }

    fn take(&mut self, frame: Frame<'_>) {
        if let Some(mut block) = self.block.take() {
            if frame.kind == CONTINUATION && frame.stream == block.stream {
                block.fragment.extend_from_slice(frame.payload);
                if frame.flags & END_HEADERS != 0 {
                    self.finish(block);
                } else {
                    self.block = Some(block);
                }
                return;
            }
            // A block left open: what follows is read all the same.
            self.finish(block);
        }
        match frame.kind {
            DATA => {
                let data = unpadded(frame, 0);
                let stream = self.stream(frame.stream);
                stream.body.extend_from_slice(data);
                stream.ended |= frame.flags & END_STREAM != 0;
            }
            HEADERS => {
                let skip = if frame.flags & PRIORITY != 0 { 5 } else { 0 };
                let fragment = unpadded(frame, skip).to_vec();
                self.open(frame, fragment, None);
            }
            PUSH_PROMISE => {
                let payload = unpadded(frame, 0);
                let promised = payload
                    .get(..4)
                    .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff);
                let fragment = payload.get(4..).unwrap_or_default().to_vec();
                self.open(frame, fragment, promised);
            }
            RST_STREAM if frame.payload.len() == 4 => {
                let p = frame.payload;
                self.stream(frame.stream).reset =
                    Some(u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
            }
            SETTINGS if frame.flags & ACK == 0 => self.settings(frame.payload),
            GOAWAY if frame.payload.len() >= 8 => self.goaway(frame.payload),
            // SETTINGS and PING acknowledgements, PING, WINDOW_UPDATE, PRIORITY and frames
            // of extensions say nothing a comparison should hold against the server.
            _ => {}
        }
    }

    fn open(&mut self, frame: Frame<'_>, fragment: Vec<u8>, promised: Option<u32>) {
        let block = Block {
            stream: frame.stream,
            fragment,
            promised,
            ends_stream: promised.is_none() && frame.flags & END_STREAM != 0,
        };
        if frame.flags & END_HEADERS != 0 {
            self.finish(block);
        } else {
            self.block = Some(block);
        }
    }

    /// Decodes a whole header block and files it under its stream.
    fn finish(&mut self, block: Block) {
        let mut rendered = match block.promised {
            Some(promised) => format!("  promises stream {promised}:\n").into_bytes(),
            None => Vec::new(),
        };
        let fields = match &self.undecodable {
            Some(why) => Err(why.clone()),
            None => self
                .decoder
                .decode(&block.fragment)
                .map_err(|e| e.to_string()),
        };
        match fields {
            Ok(fields) => {
                for (name, value) in fields {
                    rendered.extend_from_slice(b"  ");
                    rendered.extend_from_slice(&name);
                    rendered.extend_from_slice(b": ");
                    rendered.extend_from_slice(&value);
                    rendered.push(b'\n');
                }
            }
            Err(why) => {
                rendered.extend_from_slice(format!("  not decodable: {why}\n").as_bytes());
                self.undecodable
                    .get_or_insert_with(|| format!("a header block before was not ({why})"));
            }
        }
        let stream = self.stream(block.stream);
        stream.ended |= block.ends_stream;
        if stream.body.is_empty() {
            stream.heads.push(rendered);
        } else {
            stream.trailers.push(rendered);
        }
    }

    fn settings(&mut self, payload: &[u8]) {
        let list: Vec<String> = payload
            .chunks_exact(6)
            .map(|s| {
                let id = u16::from_be_bytes([s[0], s[1]]);
                let value = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                format!("{}={value}", setting_name(id))
            })
            .collect();
        let list = if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        };
        let _ = writeln!(self.connection, "settings: {list}");
    }

    fn goaway(&mut self, payload: &[u8]) {
        let last =
            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
        let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
        let name = super::code_name(super::HTTP2, code);
        let _ = write!(self.connection, "goaway: {name}, last stream {last}");
        if payload.len() > 8 {
            let _ = write!(
                self.connection,
                ", saying \"{}\"",
                payload[8..].escape_ascii()
            );
        }
        self.connection.push('\n');
    }
}

fn render_stream(out: &mut Vec<u8>, number: u32, stream: &Stream) {
    for head in &stream.heads {
        let _ = writeln!(out, "stream {number} headers:");
        out.extend_from_slice(head);
    }
    if !stream.body.is_empty() {
        let _ = writeln!(out, "stream {number} data ({} bytes):", stream.body.len());
        out.extend_from_slice(&stream.body);
        out.push(b'\n');
    }
    for trailer in &stream.trailers {
        let _ = writeln!(out, "stream {number} trailers:");
        out.extend_from_slice(trailer);
    }
    // A RST_STREAM with NO_ERROR after the server ended its answer only tells the client to
    // stop sending (RFC 9113 section 8.1: a server may answer before the request is whole);
    // whether the request's rest had come by then is timing, not what the answer says.
    match stream.reset {
        Some(0) if stream.ended => {}
        Some(code) => {
            let name = super::code_name(super::HTTP2, code);
            let _ = writeln!(out, "stream {number} reset: {name}");
        }
        None => {}
    }
    if stream.ended {
        let _ = writeln!(out, "stream {number} ended");
    }
}

/// The name RFC 9113 (and its extensions) give a setting.
fn setting_name(id: u16) -> String {
    let known = match id {
        1 => "HEADER_TABLE_SIZE",
        2 => "ENABLE_PUSH",
        3 => "MAX_CONCURRENT_STREAMS",
        4 => "INITIAL_WINDOW_SIZE",
        5 => "MAX_FRAME_SIZE",
        6 => "MAX_HEADER_LIST_SIZE",
        8 => "ENABLE_CONNECT_PROTOCOL",
        9 => "NO_RFC7540_PRIORITIES",
        _ => return format!("{id:#x}"),
    };
    known.to_owned()
}

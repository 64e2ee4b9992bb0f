//! What one delivery exchanges with the server, as both the engine (which makes it happen)
//! and the oracles (which judge it) see it: how a connection listens after its last chunk,
//! what it heard, how the reading and the sending ended, and why a connect failed. Plain
//! data below both, so neither has to know the other.

use std::io;
use std::time::Duration;

/// What a connection does after its last chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listen {
    /// Half-close (the request is over), then read until the server closes or `linger`
    /// passes. For runs with no response oracle.
    HalfClose { linger: Duration },
    /// Keep the connection open, as a client waiting for its answer does, until the
    /// response is complete: the server closed, or at least `expect` bytes arrived (one, if
    /// no length is known) and nothing more came for `settle`. Give up `limit` after the last
    /// chunk. With `until_close` (the blob's whole answer ended with the server closing),
    /// the answer is complete only when the server closes: a connection still open at
    /// `limit` with all its bytes was kept open, judged after the whole limit, never after
    /// a short quiet (a server may close some milliseconds after its last byte).
    Await {
        expect: Option<usize>,
        settle: Duration,
        limit: Duration,
        until_close: bool,
    },
}

/// How a delivery ended from the connection's point of view.
impl Listen {
    /// The same, giving up after `limit` at most when one is given.
    pub(crate) fn within(self, limit: Option<Duration>) -> Listen {
        match (self, limit) {
            (
                Listen::Await {
                    expect,
                    settle,
                    limit: own,
                    until_close,
                },
                Some(limit),
            ) => Listen::Await {
                expect,
                settle,
                limit: own.min(limit),
                until_close,
            },
            (listen, _) => listen,
        }
    }

    /// The same, for a slow reader: each quiet wait longer by its `pause` between reads, and
    /// the whole by its reads' `span`.
    pub(crate) fn stretched(self, pause: Duration, span: Duration) -> Listen {
        match self {
            Listen::HalfClose { linger } => Listen::HalfClose {
                linger: linger + span,
            },
            Listen::Await {
                expect,
                settle,
                limit,
                until_close,
            } => Listen::Await {
                expect,
                settle: settle + pause,
                limit: limit + span,
                until_close,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every chunk was sent.
    Complete,
    /// Closed early on purpose, as the case says.
    ClosedEarly,
    /// The server closed or reset the connection before every chunk was sent.
    ClosedByServer,
}

/// How reading the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// The server closed its side.
    Closed,
    /// The connection was reset or failed.
    Reset,
    /// Half-close mode: the linger time ran out first.
    Lingered,
    /// Await mode: the response was complete and nothing more came.
    Settled,
    /// Await mode: the response was not complete within the limit.
    TimedOut,
}

/// What the server sent back on one connection.
#[derive(Debug, Clone)]
pub(crate) struct Heard {
    /// The first bytes received (the first MiB); the rest are only counted.
    pub(crate) bytes: Vec<u8>,
    /// All bytes received.
    pub(crate) received: u64,
    pub(crate) end: ReadEnd,
    /// From the last chunk to the end of reading.
    pub(crate) waited: Duration,
}

impl Heard {
    /// True when the server closed (or reset) the connection.
    pub(crate) fn closed(&self) -> bool {
        self.end.is_close()
    }
}

impl ReadEnd {
    /// True when the server closed (or reset) the connection.
    pub(crate) fn is_close(self) -> bool {
        matches!(self, ReadEnd::Closed | ReadEnd::Reset)
    }
}

/// A delivery that did not get a connection.
/// What a probe connection was denied (accepting, reading or answering it) while another connection paused mid-message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unserved {
    /// The server did not accept it.
    Accept,
    /// It accepted it but did not read what it sent.
    Read,
    /// It read it but did not answer.
    Answer,
}

impl Unserved {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Unserved::Accept => "not accepted",
            Unserved::Read => "not read",
            Unserved::Answer => "not answered",
        }
    }
}

/// A pause mid-message during which the server did not serve a probe connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Neglect {
    /// How long the connection paused.
    pub(crate) pause: Duration,
    /// How long the probe waited.
    pub(crate) waited: Duration,
    pub(crate) unserved: Unserved,
}

/// Why the TLS handshake a conversation marks (`#~ tls`) did not happen.
#[derive(Debug)]
pub(crate) enum NoTls {
    /// The server did not agree to it, or did not finish it: why.
    Refused(String),
    /// Our side refused the server's certificate: a setting to fix.
    Certificate(io::Error),
}

#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Refused (nothing listening) or reset during the handshake.
    Refused(io::Error),
    /// No answer within the connect timeout.
    TimedOut(Duration),
    /// The harness's own side failed (no local port, no descriptor).
    Local(io::Error),
    /// The TLS handshake was refused for its certificate or protocol (a setting to fix,
    /// not a bug in the server).
    Tls(io::Error),
    /// A blob sent whole did not go as its conversation says: the server did not agree to
    /// start TLS where it marks `#~ tls`, or never sent what a `#~ wait` waits for. What to
    /// say of it, whole.
    WholeBlob(String),
}

impl ConnectError {
    /// Why the connection failed, in a few words.
    pub(crate) fn reason(&self) -> String {
        match self {
            ConnectError::Refused(e) | ConnectError::Local(e) | ConnectError::Tls(e) => {
                e.to_string()
            }
            ConnectError::TimedOut(after) => format!("no answer within {after:?}"),
            ConnectError::WholeBlob(why) => why.clone(),
        }
    }
}

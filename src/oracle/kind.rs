//! What the server did wrong: the kinds of bug the oracles find, each with its one-line
//! headline. The oracles make them; the engine stops on them; the report quotes them.

use std::process::ExitStatus;
use std::time::Duration;

use crate::server::{AlarmSource, describe_exit};

/// What the server did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// The server process exited, or died by a signal, while being fuzzed.
    ServerDied {
        /// How it ended.
        status: ExitStatus,
    },
    /// The in-process server's future ended (returned, or panicked) while being fuzzed.
    ServerTaskEnded {
        /// The panic message, if it panicked.
        panic: Option<String>,
    },
    /// A connection was refused or reset during the handshake after the server was ready.
    ConnectRefused {
        /// The error the connect got.
        error: String,
    },
    /// A connect did not complete in time: the server stopped accepting connections.
    ConnectTimeout {
        /// How long the connect waited.
        after: Duration,
        /// Whether it was the only connection in flight: a server slow to accept under the
        /// run's load accepts alone; one that stopped does not.
        alone: bool,
    },
    /// No connection's bytes were read for a while although bytes waited: the server, still
    /// alive, stopped reading altogether (frozen, or deadlocked). Seen where the server's
    /// receive queues can be watched (a server on this machine, on Linux).
    ServerStoppedReading {
        /// How long bytes waited with nothing read.
        unread_for: Duration,
    },
    /// A split delivery got another response than the blob delivered whole
    /// (`AnswerOracle::same`), after normalization.
    ResponseDiffers {
        /// The whole-blob delivery's response.
        expected: Vec<u8>,
        /// This delivery's response.
        actual: Vec<u8>,
        /// Offset of the first differing byte that counted (not in a part masked or learnt
        /// to vary); `None` when the bytes agree but the connection ended otherwise.
        first_difference: Option<usize>,
        /// Whether the server closed the whole-blob delivery's connection.
        expected_closed: bool,
        /// Whether it closed this one.
        actual_closed: bool,
        /// The framed protocol (`HTTP/2`, `WebSocket`) both answers were read in and compared
        /// as: `expected` and `actual` are then what each says, per stream or per message,
        /// not the bytes as sent.
        decoded: Option<&'static str>,
    },
    /// The server answered a split delivery with a frame saying its parser failed, where the
    /// blob sent whole got no such frame: an HTTP/2 GOAWAY or RST_STREAM with an error code,
    /// or a WebSocket close whose status is a protocol error (1002, 1007, 1009 or 1011).
    /// Judged whether the answers are compared or not.
    ProtocolFailure {
        /// `HTTP/2` or `WebSocket`.
        protocol: &'static str,
        /// The frame: `GOAWAY`, `RST_STREAM` or `close`.
        what: &'static str,
        /// Its error code (HTTP/2) or status code (WebSocket).
        code: u32,
        /// The answer that held it, read as its protocol's frames say: per stream (HTTP/2)
        /// or per message (WebSocket), the failure among them.
        answer: Vec<u8>,
    },
    /// The server did not complete its response within the response timeout after the last
    /// chunk.
    NoResponse {
        /// How long the harness waited after the last chunk.
        waited: Duration,
        /// Bytes that did arrive.
        received: u64,
        /// The length of the blob's whole answer (the shortest seen), when it is known.
        expected: Option<u64>,
        /// Offset in the blob of the last boundary (where the last chunk began).
        last_boundary: usize,
    },
    /// The user's `AnswerOracle::check` rejected a delivery.
    CheckFailed {
        /// The check's message.
        message: String,
    },
    /// The server printed a line that marks a bug (a sanitizer report, a panic, a valgrind
    /// error) while it went on running.
    OutputMatched {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The line.
        line: String,
        /// The pattern it matched.
        pattern: String,
    },
    /// While one connection paused mid-message, a probe connection sending the same blob
    /// whole was not accepted, read or answered: the server serves one client at a time
    /// while a message is incomplete (a blocking read, a lock held across reads).
    StoppedServingOthers {
        /// How long the connection paused.
        pause: Duration,
        /// How long the probe waited.
        waited: Duration,
        /// What the probe did not get: "not accepted", "not read" or "not answered".
        probe: &'static str,
    },
}

impl FindingKind {
    /// A few words saying what failed, for a list of cases that failed once
    /// (`unconfirmed=`): "answer differed at byte 12", "no answer within 2s".
    pub(crate) fn brief(&self) -> String {
        match self {
            FindingKind::ResponseDiffers {
                first_difference: Some(at),
                ..
            } => format!("answer differed at byte {at}"),
            FindingKind::ResponseDiffers {
                actual_closed: true,
                ..
            } => "the server closed where the whole blob's answer kept it open".to_owned(),
            FindingKind::ResponseDiffers { .. } => {
                "the server kept open what the whole blob's answer closed".to_owned()
            }
            FindingKind::NoResponse {
                waited, received, ..
            } => format!(
                "{received} bytes of answer within {}",
                humantime::format_duration(*waited)
            ),
            FindingKind::CheckFailed { message } => {
                let short: String = message.chars().take(60).collect();
                format!("your check: {}", short.escape_debug())
            }
            FindingKind::StoppedServingOthers { probe, .. } => {
                format!("during a pause mid-message, the probe was {probe}")
            }
            other => other.headline(),
        }
    }

    /// One line saying what happened.
    pub fn headline(&self) -> String {
        match self {
            FindingKind::ServerDied { status } => {
                format!("the server {} while being fuzzed", describe_exit(*status))
            }
            FindingKind::ServerTaskEnded {
                panic: Some(message),
            } => {
                format!("the in-process server panicked while being fuzzed: {message}")
            }
            FindingKind::ServerTaskEnded { panic: None } => {
                "the in-process server's future returned while being fuzzed".to_owned()
            }
            FindingKind::ConnectRefused { error } => {
                format!("a connection was refused after the server was ready ({error})")
            }
            FindingKind::ConnectTimeout { after, alone: true } => format!(
                "the server stopped accepting connections: with no other connection in flight, a connect was not accepted within {}",
                humantime::format_duration(whole_ms(*after))
            ),
            FindingKind::ConnectTimeout {
                after,
                alone: false,
            } => format!(
                "the server stopped accepting connections: a connect did not complete within {}",
                humantime::format_duration(whole_ms(*after))
            ),
            FindingKind::ServerStoppedReading { unread_for } => format!(
                "the server stopped reading (frozen or deadlocked): no connection's bytes were read for {} while it lived",
                humantime::format_duration(whole_ms(*unread_for))
            ),
            FindingKind::ResponseDiffers {
                expected_closed,
                actual_closed,
                expected,
                actual,
                first_difference,
                decoded,
            } => {
                let Some(first_difference) = first_difference else {
                    let how = |closed: &bool| {
                        if *closed {
                            "closed the connection"
                        } else {
                            "kept the connection open"
                        }
                    };
                    let same = if expected == actual {
                        "the same answer"
                    } else {
                        "the same answer but for the parts that vary"
                    };
                    return format!(
                        "the response to a split delivery ended differently: {same}, but the server {} where, for the blob sent whole, it {}",
                        how(actual_closed),
                        how(expected_closed)
                    );
                };
                let of = match decoded {
                    Some(protocol) => {
                        format!("of the response {}", super::framed::read_as(protocol))
                    }
                    None => "of the response".to_owned(),
                };
                format!(
                    "the response to a split delivery differs from the response to the blob sent whole, from byte {first_difference} {of}"
                )
            }
            FindingKind::ProtocolFailure {
                protocol,
                what,
                code,
                ..
            } => {
                let frame = super::protocol_failure::describe(protocol, what, *code);
                let article = if *protocol == super::protocol_failure::HTTP2 {
                    "an"
                } else {
                    "a"
                };
                format!(
                    "the server answered a split delivery with {article} {frame}, where the blob sent whole got none"
                )
            }
            FindingKind::NoResponse {
                waited,
                received: 0,
                last_boundary,
                ..
            } => format!(
                "no response {} ms after the last chunk (nothing received; the last chunk began at byte {last_boundary})",
                waited.as_millis()
            ),
            FindingKind::NoResponse {
                waited,
                received,
                expected: Some(expected),
                last_boundary,
            } => format!(
                "the answer stopped short of the whole blob's: {received} of {expected} bytes {} ms after the last chunk, the connection still open (the last chunk began at byte {last_boundary})",
                waited.as_millis()
            ),
            FindingKind::NoResponse {
                waited,
                received,
                expected: None,
                last_boundary,
            } => format!(
                "the answer did not complete: {received} bytes {} ms after the last chunk, the connection still open (the last chunk began at byte {last_boundary})",
                waited.as_millis()
            ),
            FindingKind::CheckFailed { message } => {
                format!("the check failed: {}", one_line(message))
            }
            FindingKind::OutputMatched { stream, line, .. }
                if *stream == AlarmSource::TaskPanic.name() =>
            {
                format!("a task of the in-process server panicked: {line}")
            }
            FindingKind::OutputMatched {
                stream,
                line,
                pattern,
            } => format!("the server printed {pattern:?} on {stream}: {line}"),
            FindingKind::StoppedServingOthers {
                pause,
                waited,
                probe,
            } => format!(
                "the server stopped serving other connections while one connection paused mid-message: during a {} ms pause, a probe connection sending the same blob whole was {probe} within {} ms",
                pause.as_millis(),
                waited.as_millis()
            ),
        }
    }
}

/// `text` on one line, as a headline must be: line ends and other control characters
/// written as their escapes (`\n`).
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// `d` to the millisecond, as a report shows a time.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_message_of_several_lines_stays_on_the_headline() {
        let kind = FindingKind::CheckFailed {
            message: "error reply: -ERR one\n-ERR \"two\"\tend".to_owned(),
        };
        assert_eq!(
            kind.headline(),
            "the check failed: error reply: -ERR one\\n-ERR \"two\"\\tend"
        );
    }
}

//! Where the answers a client reads come from: a real server the harness relays to (an
//! address, or one it spawned), or a stand-in that answers with what a recorded
//! conversation heard (the `#~ heard` lines `stutterfuzz capture` and `import` write). A
//! stand-in needs no server at all: a client's test runs on the recording alone.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::corpus::{Corpus, RecordedAnswer, recorded_answers, tls_at};
use crate::error::{SetupError, SetupErrorKind};

/// One recorded conversation: what the client sent, and what the server answered after
/// which of those bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) name: String,
    pub(crate) sent: Vec<u8>,
    pub(crate) heard: Vec<RecordedAnswer>,
    /// Where the client starts TLS (`#~ tls`): after this many of its bytes, once answered
    /// what was recorded up to there (the server's yes to STARTTLS).
    pub(crate) tls_at: Option<usize>,
}

impl Recorded {
    /// The conversation of `all` that a client which sent `first` is having: the one whose
    /// recorded bytes share the longest start with it (the first, by name, on a tie).
    pub(crate) fn pick<'a>(all: &'a [Recorded], first: &[u8]) -> Option<&'a Recorded> {
        let common = |r: &Recorded| r.sent.iter().zip(first).take_while(|(a, b)| a == b).count();
        all.iter().rev().max_by_key(|r| common(r))
    }
}

/// What answers the client.
#[derive(Clone, Debug)]
pub(crate) enum Answers {
    /// A real server: the harness relays the client's bytes to it as they come, and its
    /// answers back cut into chunks.
    Upstream(SocketAddr),
    /// A stand-in serving recorded conversations.
    Recorded(Arc<[Recorded]>),
}

impl Answers {
    /// Whether a recorded conversation starts TLS (`#~ tls`): the stand-in then answers the
    /// client's handshake itself.
    pub(crate) fn marks_tls(&self) -> bool {
        match self {
            Answers::Upstream(_) => false,
            Answers::Recorded(all) => all.iter().any(|r| r.tls_at.is_some()),
        }
    }

    /// What a report says the answers came from.
    pub(crate) fn describe(&self) -> String {
        match self {
            Answers::Upstream(addr) => format!("the server at {addr}, through the harness"),
            Answers::Recorded(all) => format!(
                "a stand-in answering with {} recorded conversation{}",
                all.len(),
                if all.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The recorded conversations in `dir`: every file must be a conversation with at least one
/// `#~ heard` line.
pub(crate) fn load(dir: &Path) -> Result<Vec<Recorded>, SetupError> {
    let corpus = Corpus::load(&[dir.to_path_buf()], &[])?;
    let error = |message: String| SetupError::new(SetupErrorKind::Blobs, message);
    let mut all = Vec::new();
    for blob in corpus.blobs() {
        let Some(path) = blob.path() else { continue };
        let file = std::fs::read(path).map_err(|e| {
            error(format!(
                "cannot read {}: {e}; fix its permissions or remove it",
                path.display()
            ))
            .with_source(e)
        })?;
        let heard = match recorded_answers(&file) {
            None => {
                return Err(error(format!(
                    "{} is not a recorded conversation, so it holds no answers: record one with `stutterfuzz capture` or `stutterfuzz import`, or write it by hand (a first line `#~ stutterfuzz conversation`, then `#~ heard TEXT` lines after the bytes they answer)",
                    path.display()
                )));
            }
            Some(Err(why)) => return Err(error(format!("{}: {why}", path.display()))),
            Some(Ok(heard)) => heard,
        };
        if heard.is_empty() {
            return Err(error(format!(
                "{} has no `#~ heard` line, so the stand-in has nothing to answer with: add what the server said, or record the exchange with `stutterfuzz capture`",
                path.display()
            )));
        }
        let tls_at = tls_at(blob.waits());
        all.push(Recorded {
            name: blob.name().to_owned(),
            sent: blob.bytes().to_vec(),
            heard,
            tls_at,
        });
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str, sent: &[u8]) -> Recorded {
        Recorded {
            name: name.into(),
            sent: sent.to_vec(),
            heard: vec![RecordedAnswer {
                at: sent.len(),
                bytes: b"ok\r\n".to_vec(),
            }],
            tls_at: None,
        }
    }

    #[test]
    fn the_conversation_is_the_one_the_client_started() {
        let all = [
            recorded("get", b"GET a\r\n"),
            recorded("set", b"SET a 1\r\n"),
        ];
        assert_eq!(Recorded::pick(&all, b"SET a").unwrap().name, "set");
        assert_eq!(Recorded::pick(&all, b"GET").unwrap().name, "get");
        assert_eq!(Recorded::pick(&all, b"").unwrap().name, "get");
        assert!(Recorded::pick(&[], b"x").is_none());
    }

    #[test]
    fn a_directory_without_answers_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain.txt"), b"PING\r\n").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a recorded conversation"), "{err}");
        std::fs::write(
            dir.path().join("plain.txt"),
            b"#~ stutterfuzz conversation\nPING\r\n#~ heard +PONG%0D%0A\n",
        )
        .unwrap();
        let all = load(dir.path()).unwrap();
        assert_eq!(all[0].heard[0].bytes, b"+PONG\r\n");
        assert_eq!(all[0].heard[0].at, 6);
    }
}

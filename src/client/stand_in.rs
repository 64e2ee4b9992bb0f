//! The stand-in: answers a client with a recorded conversation, each answer once the client
//! has sent the bytes it followed, cut as the case says. Where the conversation marks TLS
//! (`#~ tls`, STARTTLS), the stand-in accepts the client's handshake itself, with the run's
//! certificate, once it has answered what was recorded up to there (the server's yes), and
//! serves the rest inside TLS, each chunk its own record; the client's bytes are counted in
//! plaintext on both sides of the switch, as the recording counts them. A recorded `101`
//! upgrading to WebSocket is answered with the accept value of this client's key.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::answers::Recorded;
use super::splitter::{Side, Splitter};
use crate::engine::{Opened, Reader, SocketFd, Writer, halves};
use crate::tls::server::Identity;

/// How long a stand-in waits for more of the client's bytes, when it has some since its last
/// answer, before it answers anyway (a recording whose answer fell after the next line
/// start, in a binary protocol).
const QUIET: Duration = Duration::from_millis(50);

/// How long the client's TLS handshake with the stand-in may take.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// What a stand-in learnt of its client: the conversation it is having, the bytes it sent,
/// and why its TLS did not start, if it did not.
#[derive(Default)]
pub(super) struct Talk {
    pub(super) conversation: Option<String>,
    pub(super) got: Vec<u8>,
    pub(super) no_tls: Option<String>,
}

/// The client's connection as the stand-in serves it: its halves (plain, or TLS once the
/// client started it) and its socket.
struct Line {
    from: Reader,
    to: Writer,
    fd: SocketFd,
}

/// Answers with a recorded conversation: each answer once the client has sent the bytes it
/// followed (or has sent some and then gone quiet), TLS where the conversation marks it,
/// then closes its side.
pub(super) async fn stand_in(
    client: Side,
    all: &[Recorded],
    splitter: &mut Splitter,
    talk: &mut Talk,
    identity: Option<&Identity>,
) {
    let Opened {
        reader, writer, fd, ..
    } = client.opened;
    let mut line = Line {
        from: reader,
        to: writer,
        fd,
    };
    if all.len() > 1 && line.from.read_buf(&mut talk.got).await.unwrap_or(0) == 0 {
        return;
    }
    let Some(conversation) = Recorded::pick(all, &talk.got) else {
        return;
    };
    talk.conversation = Some(conversation.name.clone());
    let mut tls_due = conversation.tls_at;
    let mut answered_at = 0;
    for heard in &conversation.heard {
        if let Some(at) = tls_due.filter(|&at| heard.at > at) {
            tls_due = None;
            let Some(tls) = start_tls(line, at, identity, talk).await else {
                return;
            };
            line = tls;
            splitter.tls_starts();
            answered_at = at;
        }
        while talk.got.len() < heard.at {
            match timeout(QUIET, line.from.read_buf(&mut talk.got)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) if talk.got.len() > answered_at => break,
                Err(_) => {}
            }
        }
        answered_at = talk.got.len();
        let answer = super::websocket_accept::for_this_client(&heard.bytes, &talk.got);
        if splitter
            .send(&mut line.to, &line.fd, &answer)
            .await
            .is_err()
        {
            return;
        }
    }
    if let Some(at) = tls_due {
        // TLS marked after the last answer: the client's handshake is still answered.
        let Some(tls) = start_tls(line, at, identity, talk).await else {
            return;
        };
        line = tls;
        splitter.tls_starts();
    }
    let _ = line.to.shutdown().await;
    let mut rest = [0u8; 4096];
    while let Ok(1..) = line.from.read(&mut rest).await {}
}

/// Starts TLS once the client has sent `at` bytes: what it sent past them is the start of
/// its ClientHello, handed back to the handshake. The connection inside TLS, or none (and
/// why, in `talk`) when the client went away or its handshake failed.
async fn start_tls(
    mut line: Line,
    at: usize,
    identity: Option<&Identity>,
    talk: &mut Talk,
) -> Option<Line> {
    let Some(identity) = identity else {
        talk.no_tls = Some("the run has no TLS certificate for the stand-in".to_owned());
        return None;
    };
    while talk.got.len() <= at {
        match timeout(HANDSHAKE, line.from.read_buf(&mut talk.got)).await {
            Ok(Ok(1..)) => {}
            _ => {
                talk.no_tls = Some(format!(
                    "the client sent no TLS handshake after byte {at}, where the conversation marks `#~ tls`"
                ));
                return None;
            }
        }
    }
    let hello = talk.got.split_off(at);
    let stream = line.from.unsplit(line.to);
    match timeout(HANDSHAKE, identity.accept(stream, hello)).await {
        Ok(Ok(tls)) => {
            let (from, to) = halves(tls);
            Some(Line {
                from,
                to,
                fd: line.fd,
            })
        }
        Ok(Err(e)) => {
            talk.no_tls = Some(format!(
                "the client's TLS handshake with the stand-in failed: {e}; the client must trust {} (give it {{cert}} or STUTTERFUZZ_CERT)",
                identity.cert.display()
            ));
            None
        }
        Err(_) => {
            talk.no_tls = Some(format!(
                "the client did not finish its TLS handshake in {} s",
                HANDSHAKE.as_secs()
            ));
            None
        }
    }
}

//! Every blob delivered whole, in one write, once: the answers that `AnswerOracle::same`
//! compares split deliveries with are made of these.

use std::collections::HashMap;

use tokio::task::JoinSet;

use super::{Progress, Transport};
use crate::case::{Case, Drawn};
use crate::corpus::{Blob, Corpus, WaitPoint, spelled, tls_at};
use crate::oracle::{Baseline, Oracles};
use crate::wire::{ConnectError, Heard, NoTls};

/// Delivers every blob whole, at most `connections` at once, and keeps what each heard.
/// A blob with a baseline already listens for its known length (a short quiet after it);
/// one without, for a long quiet. The first delivery that fails to connect ends it, with
/// its case.
pub(crate) async fn deliver_whole(
    corpus: &Corpus,
    transport: &Transport,
    oracles: &Oracles,
    known: &HashMap<String, Baseline>,
    connections: usize,
) -> Result<HashMap<String, Heard>, (ConnectError, Case)> {
    let mut heard = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut blobs = corpus.blobs().iter();
    loop {
        while tasks.len() < connections {
            let Some(blob) = blobs.next() else { break };
            let drawn = Drawn::whole(blob, 0);
            let listen = oracles.whole_listen(known.get(blob.name()));
            let connection = transport.connection(blob, &drawn, listen);
            let name = blob.name().to_owned();
            tasks.spawn(async move {
                let outcome = connection.run(&Progress::default()).await;
                (name, drawn.case, outcome)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            return Ok(heard);
        };
        let (name, case, outcome) = match joined {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => continue,
        };
        match outcome {
            Ok(delivered) => {
                if let Some(why) = &delivered.no_tls {
                    let message = no_tls(corpus.find(&name), why, &delivered.heard);
                    return Err((ConnectError::WholeBlob(message), case));
                }
                if let Some(wait) = &delivered.wait_missed {
                    let message =
                        wait_missed(corpus.find(&name), wait, &delivered.heard, transport);
                    return Err((ConnectError::WholeBlob(message), case));
                }
                heard.insert(name, delivered.heard);
            }
            Err(error) => return Err((error, case)),
        }
    }
}

/// What to say of a blob sent whole whose conversation `wait` did not end within the connect
/// timeout: which wait, where, what the server said last, and what to check. Every split
/// delivery would wait as long, and test nothing after it.
fn wait_missed(
    blob: Option<&Blob>,
    wait: &WaitPoint,
    heard: &Heard,
    transport: &Transport,
) -> String {
    let name = blob.map_or_else(|| "?".to_owned(), Blob::origin);
    format!(
        "blob {name}: sent whole, the server never sent what `{}` (before byte {}) waits for, within {}; {}. Check the wait against what the server answers (a frame wait reads HTTP/2 frames, a pattern the server's bytes since the wait before)",
        spelled(&wait.until),
        wait.at,
        humantime::format_duration(transport.connect_timeout),
        said_last(heard)
    )
}

/// What the server said last, in a few words: `it said last "-ERR ..."`.
fn said_last(heard: &Heard) -> String {
    let last = heard
        .bytes
        .split(|&b| b == b'\n')
        .rfind(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| line.trim_ascii().escape_ascii().to_string());
    match last {
        Some(line) if line.len() > 80 => format!("it said last \"{}…\"", &line[..80]),
        Some(line) => format!("it said last \"{line}\""),
        None => "it said nothing".to_owned(),
    }
}

/// What to say of a blob sent whole whose TLS handshake (`#~ tls`) did not happen: where the
/// mark is, why, and what to check: the certificate settings when ours refused the server's,
/// else what the server said last and how the conversation should ask for TLS.
fn no_tls(blob: Option<&Blob>, why: &NoTls, heard: &Heard) -> String {
    let name = blob.map_or_else(|| "?".to_owned(), Blob::origin);
    let at = blob.and_then(|b| tls_at(b.waits())).unwrap_or(0);
    let why = match why {
        NoTls::Certificate(e) => {
            return format!(
                "blob {name}: the TLS handshake at its `#~ tls` (after byte {at}) failed: {e}; check the CA (--tls-ca / TlsOptions::with_ca) and the server name (--tls-server-name), or skip the check for a test server (--tls-insecure)"
            );
        }
        NoTls::Refused(why) => why,
    };
    let said = said_last(heard);
    format!(
        "blob {name}: sent whole, the server did not start TLS where it marks `#~ tls` (after byte {at}): {why}; {said}. Check that the command before the mark asks for TLS, that the server offers it (a certificate set up), and that the wait before the mark waits for its yes"
    )
}

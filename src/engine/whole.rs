//! Every blob delivered whole, in one write, once: the answers that `AnswerOracle::same`
//! compares split deliveries with are made of these.

use std::collections::HashMap;

use tokio::task::JoinSet;

use super::{Progress, Transport};
use crate::case::{Case, Drawn};
use crate::corpus::Corpus;
use crate::oracle::{Baseline, Oracles};
use crate::wire::{ConnectError, Heard};

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
                heard.insert(name, delivered.heard);
            }
            Err(error) => return Err((error, case)),
        }
    }
}

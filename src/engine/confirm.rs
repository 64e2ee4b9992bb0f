//! Confirming a differing response alone. Deliveries run concurrently, so a server with
//! shared state (counters, keys that several blobs use) may answer one delivery differently
//! because of another: that is interference, not a boundary bug. Before a differing response
//! counts as a finding, its case is delivered again with no other delivery in flight; if the
//! answer is then right, the difference is counted (`interference=`) and the run goes on.

use super::book::{Book, Running};
use super::{Progress, Stopped, exit_within};
use crate::oracle;
use crate::wire::Ending;

/// How long after the confirming delivery the server is watched for a crash.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Delivers `running`'s case again, alone: `Some` is the finding when it fails again (or
/// kills the server), `None` when the difference did not show again.
pub(super) async fn confirm_alone<'a>(
    run: &mut super::Run<'a>,
    book: &mut Book<'a>,
    running: Running<'a>,
) -> Option<Stopped> {
    let baseline = run.baselines.get(running.blob.name());
    let listen = run.oracles.listen(baseline, run.transport.linger);
    let connection = run
        .transport
        .connection(running.blob, &running.planned, listen);
    let outcome = connection.run(&Progress::default()).await;
    if let Some(exit) = exit_within(run.server.as_deref_mut(), SETTLE).await {
        return Some(Stopped::Found(
            book.found_in(oracle::exited(exit), &running),
        ));
    }
    let delivered = match outcome {
        Ok(delivered) => delivered,
        Err(error) => {
            return Some(match oracle::connect_failed(error) {
                Ok(kind) => Stopped::Found(book.found(kind)),
                Err(setup) => Stopped::Setup(setup),
            });
        }
    };
    let again = (delivered.ending != Ending::ClosedEarly)
        .then(|| {
            run.oracles
                .judge(&running.planned.case, &delivered.heard, baseline)
        })
        .flatten();
    match again {
        Some(kind) => Some(Stopped::Found(book.found_in(kind, &running))),
        None => {
            book.stats.interfered();
            None
        }
    }
}

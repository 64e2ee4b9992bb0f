//! Confirming a differing response before it counts. Deliveries run concurrently, so a
//! server with shared state (counters, keys that several blobs use) may answer one delivery
//! differently because of another: that is interference. And a server may answer the same
//! request differently by itself (a date, an id): that is variation. Neither is a boundary
//! bug. So the case is delivered again with no other delivery in flight; if the answer is
//! then right, the difference is counted (`interference=`). If it is still wrong, the blob is
//! sent whole once more: where that answer changed too, the changed words are learnt as
//! varying, and a difference only there is counted (`varied=`), not reported.

use super::book::{Book, Running};
use super::{Progress, Stopped, exit_within};
use crate::case::{Case, Planned};
use crate::oracle::{self, Relearnt};
use crate::report::FindingKind;
use crate::split::Splits;
use crate::wire::{Ending, Heard, Neglect};

/// How long after a confirming delivery the server is watched for a crash.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Delivers `running`'s case again, alone: `Some` is the finding when it fails again (or
/// kills the server), `None` when the difference was interference or variation.
pub(super) async fn confirm_alone<'a>(
    run: &mut super::Run<'a>,
    book: &mut Book<'a>,
    running: Running<'a>,
) -> Option<Stopped> {
    let (ending, heard, neglect) =
        match deliver_alone(run, book, &running, &running.planned, false).await {
            Ok(delivered) => delivered,
            Err(stopped) => return Some(stopped),
        };
    let judge = |run: &super::Run<'a>| {
        let baseline = run.baselines.get(running.blob.name());
        run.oracles
            .judge_delivery(&running.planned.case, ending, &heard, baseline, neglect)
    };
    let Some(kind) = judge(run) else {
        book.stats.interfered();
        return None;
    };
    if !matches!(kind, FindingKind::ResponseDiffers { .. }) {
        return Some(Stopped::Found(book.found_in(kind, &running)));
    }
    // Still different alone: does the blob's own answer vary?
    let whole = Planned {
        case: Case::new(running.blob.name(), Splits::whole(running.blob.len())),
        iteration: running.planned.iteration,
        fastopen: false,
    };
    let again = match deliver_alone(run, book, &running, &whole, true).await {
        Ok((_, again, _)) => again,
        Err(stopped) => return Some(stopped),
    };
    let oracles = run.oracles;
    let Some(baseline) = run.baselines.get_mut(running.blob.name()) else {
        return Some(Stopped::Found(book.found_in(kind, &running)));
    };
    let varied = match oracles.relearn(baseline, &again.bytes) {
        Relearnt::Unchanged => false,
        Relearnt::Learnt => judge(run).is_none(),
        Relearnt::Reshaped => {
            // The answer moved altogether: the split answer is right if it is the new one.
            let same = oracles.normalized(&heard.bytes) == oracles.normalized(&again.bytes)
                && heard.closed() == again.closed();
            if same {
                *baseline = oracle::Baseline::new(again.bytes.clone(), again.closed());
            }
            same
        }
    };
    if varied {
        book.stats.varied();
        return None;
    }
    Some(Stopped::Found(book.found_in(kind, &running)))
}

/// Delivers `planned` (a case of `running`'s blob) with no other delivery in flight,
/// listening as for a baseline when it is the blob sent `whole`: how it ended and what the
/// server answered, or the finding when the server died or refused meanwhile.
async fn deliver_alone<'a>(
    run: &mut super::Run<'a>,
    book: &mut Book<'a>,
    running: &Running<'a>,
    planned: &Planned,
    whole: bool,
) -> Result<(Ending, Heard, Option<Neglect>), Stopped> {
    let baseline = run.baselines.get(running.blob.name());
    let listen = if whole {
        run.oracles.baseline_listen()
    } else {
        run.oracles.listen(baseline, run.transport.linger)
    };
    let outcome = run
        .transport
        .connection(running.blob, planned, listen)
        .run(&Progress::default())
        .await;
    if let Some(exit) = exit_within(run.server.as_deref_mut(), SETTLE).await {
        return Err(Stopped::Found(book.found_in(oracle::exited(exit), running)));
    }
    match outcome {
        Ok(delivered) => Ok((delivered.ending, delivered.heard, delivered.neglect)),
        Err(error) => Err(match oracle::connect_failed(error) {
            Ok(kind) => Stopped::Found(book.found(kind)),
            Err(setup) => Stopped::Setup(setup),
        }),
    }
}

//! The verdict gate: a finding about an answer (it differs, ended otherwise, came short or
//! not at all, failed the user's check, a probe went unserved during a pause) counts only
//! when it reproduces. Deliveries run concurrently, so a server with shared state may
//! answer one differently because of another; a server may answer the same request
//! differently by itself (a date, an id, a random token); a server may not be ready yet.
//! None of that is a boundary bug.
//!
//! So, with no other delivery in flight, [`ROUNDS`] times: the blob is sent whole twice,
//! back to back (fresh answers, from which what varies is learnt, and which become the
//! baseline if the answer changed for good), then the case is delivered and judged again
//! against them. The finding
//! counts only when every round fails. One round that passes makes it `unconfirmed=` in
//! the stats, listed by case string; a whole blob that fails the same way makes it
//! `unsplit_fails=`, a warning; the run goes on either way.

use super::book::{Book, Running};
use super::{Progress, Stopped, exit_within};
use crate::case::{Case, Planned};
use crate::oracle::{self, Rejudged, Relearnt};
use crate::split::Splits;
use crate::wire::{Ending, Heard, Neglect};

/// How many times a finding about an answer must fail alone before it counts.
pub(crate) const ROUNDS: u32 = 3;

/// How long after a confirming delivery the server is watched for a crash.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Takes `running`'s case through the verdict gate: `Some` is the finding when it fails
/// every round (or kills the server, or a connect fails), `None` when it does not count.
pub(super) async fn confirm_alone<'a>(
    run: &mut super::Run<'a>,
    book: &mut Book<'a>,
    running: Running<'a>,
) -> Option<Stopped> {
    let whole = Planned {
        case: Case::new(running.blob.name(), Splits::whole(running.blob.len())),
        iteration: running.planned.iteration,
        fastopen: false,
    };
    let mut varied = false;
    let mut last = None;
    for _ in 0..ROUNDS {
        // Two whole answers back to back: what a server varies from one request to the
        // next (records it rotates) shows between them, whatever the split's turn is.
        let earlier = match deliver_alone(run, book, &running, &whole, true).await {
            Ok((_, earlier, _)) => earlier,
            Err(stopped) => return Some(stopped),
        };
        if let Some(baseline) = run.baselines.get_mut(running.blob.name()) {
            varied |= run.oracles.relearn(baseline, &earlier) != Relearnt::Unchanged;
        }
        let fresh = match deliver_alone(run, book, &running, &whole, true).await {
            Ok((_, fresh, _)) => fresh,
            Err(stopped) => return Some(stopped),
        };
        let (ending, heard, neglect) =
            match deliver_alone(run, book, &running, &running.planned, false).await {
                Ok(delivered) => delivered,
                Err(stopped) => return Some(stopped),
            };
        let baseline = run.baselines.get_mut(running.blob.name());
        match run.oracles.rejudge(
            &running.planned.case,
            (ending, &heard, neglect),
            baseline,
            &fresh,
        ) {
            Rejudged::Fails(kind) => last = Some(kind),
            Rejudged::Varied => {
                varied = true;
                last = None;
                break;
            }
            Rejudged::Passes => {
                last = None;
                break;
            }
            Rejudged::WholeFailsToo(_) => {
                book.stats.unsplit_fails();
                return None;
            }
        }
    }
    match last {
        Some(kind) => Some(Stopped::Found(book.found_in(kind, &running))),
        None if varied => {
            book.stats.varied();
            None
        }
        None => {
            book.stats.unconfirmed(&running.planned.case);
            None
        }
    }
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

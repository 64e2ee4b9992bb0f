//! What tells one client bug from another in a run that keeps going: the kind of failure,
//! located by the client's own words where it said where it failed (a Rust panic's
//! `file:line`, a sanitizer's, Python's, Node's or Java's frame in its own code, an
//! in-process panic's message with its numbers folded), else by the answer record the case
//! first cuts (`$<n>`, `+PONG`): two crash sites are two findings, one met in several
//! answers one.

use super::attempt::Attempt;
use super::case::ClientCase;
use super::judge::ClientFindingKind;
use crate::report::signature::{fold_digits, fold_message, location, record_at, shape};

/// Where a failing try says it failed: the place its trace names, or an in-process
/// panic's message with numbers folded. Narrowing keeps it: a shorter cut that fails
/// elsewhere is another bug.
pub(crate) fn place(kind: &ClientFindingKind, attempt: &Attempt) -> Option<String> {
    match kind {
        ClientFindingKind::Failed { how } if how.starts_with("panicked: ") => {
            Some(fold_message(how))
        }
        ClientFindingKind::Failed { .. } | ClientFindingKind::Alarm { .. } => {
            location(&printed(attempt))
        }
        ClientFindingKind::Hung { .. } | ClientFindingKind::OutputDiffers { .. } => None,
    }
}

/// What the client printed on stderr, as far as it was kept.
fn printed(attempt: &Attempt) -> String {
    attempt.run.stderr.text()
}

/// The signature of a client finding of `kind`, from one failing try of `case`.
pub(crate) fn of(kind: &ClientFindingKind, attempt: &Attempt, case: &ClientCase) -> String {
    let printed = printed(attempt);
    let located = |what: String| match location(&printed) {
        Some(at) => format!("{what} at {at}"),
        None => what,
    };
    let record = || {
        let answered = attempt.served.first().map_or(&[][..], |s| &s.answered[..]);
        match case.answers().boundaries().next() {
            Some(cut) => format!(" in {}", fold_digits(&shape(record_at(answered, cut)))),
            None => String::new(),
        }
    };
    match kind {
        ClientFindingKind::Failed { how } => match how.strip_prefix("panicked: ") {
            Some(message) => format!("the client panicked: {}", fold_message(message)),
            None => located(format!("the client {how}")),
        },
        ClientFindingKind::Alarm { line } => match location(&printed) {
            Some(at) => format!("the client printed an alarm at {at}"),
            None => format!("the client printed {:?}", fold_digits(line)),
        },
        ClientFindingKind::Hung { .. } => format!("the client hung{}", record()),
        ClientFindingKind::OutputDiffers { .. } => {
            format!("the client's output differs{}", record())
        }
    }
}

//! The cases still to start, in the order the schedule draws them, and which blobs may
//! not start again while a copy is in flight.

use std::collections::{HashSet, VecDeque};

use crate::case::Drawn;
use crate::corpus::Blob;

/// The cases still to start, and which blobs are in flight when one blob may not overlap
/// itself (under `AnswerOracle::same`, two copies of a request on the same keys would
/// change each other's responses).
pub(super) struct Queue<'a, I> {
    cases: I,
    exhausted: bool,
    /// Every blob one at a time (`isolate_blobs`), or these alone.
    exclusive: bool,
    pub(super) isolated: HashSet<String>,
    busy: HashSet<&'a str>,
    deferred: VecDeque<(&'a Blob, Drawn)>,
    blobs: usize,
}

impl<'a, I: Iterator<Item = (&'a Blob, Drawn)>> Queue<'a, I> {
    /// The `cases` of `blobs` blobs, each blob one copy at a time when `exclusive`.
    pub(super) fn new(cases: I, exclusive: bool, blobs: usize) -> Self {
        Queue {
            cases,
            exhausted: false,
            exclusive,
            isolated: HashSet::new(),
            busy: HashSet::new(),
            deferred: VecDeque::new(),
            blobs,
        }
    }

    /// The next case that may start now, if any.
    pub(super) fn next(&mut self) -> Option<(&'a Blob, Drawn)> {
        loop {
            let next = match self
                .deferred
                .iter()
                .position(|(b, _)| !self.busy.contains(b.name()))
            {
                Some(i) => self.deferred.remove(i),
                None if self.exhausted => None,
                None => {
                    let next = self.cases.next();
                    self.exhausted = next.is_none();
                    next
                }
            }?;
            if !self.exclusive && !self.isolated.contains(next.0.name()) {
                return Some(next);
            }
            if !self.busy.contains(next.0.name()) {
                self.busy.insert(next.0.name());
                return Some(next);
            }
            self.deferred.push_back(next);
            if self.deferred.len() > self.blobs {
                return None; // every blob is busy: wait for one to finish
            }
        }
    }

    pub(super) fn done(&mut self, blob: &Blob) {
        self.busy.remove(blob.name());
    }

    /// A case that was cut short is delivered again, before any new one.
    pub(super) fn again(&mut self, blob: &'a Blob, drawn: Drawn) {
        self.deferred.push_front((blob, drawn));
    }
}

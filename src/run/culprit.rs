//! Which suspect made the server fail: the first half of narrowing.
//!
//! A finding about the server as a whole (it died, refused, printed an alarm) is replayed on
//! a fresh server each time, with group testing ([`groups`]): sets of suspects together,
//! halved while they fail, so one culprit among hundreds costs a handful of restarts. A set
//! that fails only together is a bug that needs several cases at once, reduced to the
//! smallest such set; unless as many blobs sent whole kill the server too, which is a
//! server that dies after about that many connections. A finding in one delivery's own
//! response is tried on the live server, suspect by suspect (usually there is one).

use std::collections::HashMap;

use super::rig::Rig;
use super::tries::{Spend, dies_after, fails_again};
use crate::case::Case;
use crate::config::Budget;
use crate::corpus::{Blob, Corpus};
use crate::engine::{Seen, Stood};
use crate::error::SetupError;
use crate::minimize::groups::{self, Failing, Replay};
use crate::oracle::{Baseline, FindingKind};
use crate::report::Narrowed;

/// What the search came to.
pub(super) enum Searched<'c> {
    /// This case fails alone: shrink it.
    Culprit(Case, &'c Blob),
    /// Narrowing ends here, with this.
    Narrowed(Box<Narrowed>),
}

/// Looks for the suspect that fails alone (or the set that fails together).
#[allow(
    clippy::too_many_arguments,
    reason = "the narrowing context, passed down"
)]
pub(super) async fn search<'c>(
    rig: &mut Rig<'_>,
    fresh: bool,
    kind: &FindingKind,
    suspects: &[Seen],
    corpus: &'c Corpus,
    baselines: &HashMap<String, Baseline>,
    budget: Budget,
    spend: &mut Spend,
) -> Result<Searched<'c>, SetupError> {
    let order = order_of(suspects, corpus);
    // A culprit known from its own delivery gets every try; one among many, one each.
    let known = suspects.first().is_some_and(|s| s.stood == Stood::Culprit);
    // A hang its own delivery showed, confirmed alone at the verdict gate: replaying it
    // again would only cost a whole response timeout; shrinking reproduces its minimal form.
    if known && kind.treatment().hang && !order.is_empty() {
        return Ok(culprit(&order, 0));
    }
    let mut replayer = Replayer {
        tries_alone: if order.len() == 1 || known {
            budget.tries
        } else {
            1
        },
        rig,
        spend,
        order: &order,
        baselines,
        kind,
        fresh,
        tried: 0,
    };
    if !fresh {
        return replayer.one_by_one().await;
    }
    replayer.in_groups().await
}

/// The suspects to replay, in the order tried: most recent first, as listed; cases that
/// sent nothing last; victims never (nor a case whose blob the corpus lacks).
fn order_of<'c>(suspects: &[Seen], corpus: &'c Corpus) -> Vec<(Case, &'c Blob)> {
    let mut order: Vec<(Case, &'c Blob)> = Vec::new();
    for sent_something in [true, false] {
        order.extend(
            suspects
                .iter()
                .filter(|s| (s.bytes_sent > 0) == sent_something && s.stood != Stood::Victim)
                .filter_map(|s| corpus.find(s.case.blob()).map(|b| (s.case.clone(), b))),
        );
    }
    order
}

/// Replays suspects for the search, each time on a fresh server when `fresh`.
struct Replayer<'a, 'p, 'c> {
    rig: &'a mut Rig<'p>,
    spend: &'a mut Spend,
    order: &'a [(Case, &'c Blob)],
    baselines: &'a HashMap<String, Baseline>,
    kind: &'a FindingKind,
    fresh: bool,
    tries_alone: u32,
    /// Suspects replayed alone so far.
    tried: usize,
}

impl Replayer<'_, '_, '_> {
    /// Does suspect `i` fail alone, within its tries?
    async fn alone(&mut self, i: usize) -> Result<Option<bool>, SetupError> {
        let (case, blob) = &self.order[i];
        self.tried += 1;
        for _ in 0..self.tries_alone {
            if !self.spend.take() {
                return Ok(None);
            }
            let base = self.baselines.get(blob.name());
            if fails_again(self.rig, self.fresh, self.kind, case, blob, base).await? {
                return Ok(Some(true));
            }
        }
        Ok(Some(false))
    }

    /// Do these suspects fail delivered all at once, on a fresh server?
    async fn together(&mut self, set: &[usize]) -> Result<Option<bool>, SetupError> {
        if !self.spend.take() {
            return Ok(None);
        }
        let cases: Vec<(Case, &Blob)> = set.iter().map(|&i| self.order[i].clone()).collect();
        self.rig.fresh_server().await?;
        Ok(Some(self.rig.try_together(&cases).await?))
    }
}

impl<'c> Replayer<'_, '_, 'c> {
    /// On the live server: each suspect alone, in order, until one fails (the culprit) or
    /// the budget runs out.
    async fn one_by_one(&mut self) -> Result<Searched<'c>, SetupError> {
        for i in 0..self.order.len() {
            match self.alone(i).await? {
                Some(true) => return Ok(culprit(self.order, i)),
                Some(false) => {}
                None => break,
            }
        }
        Ok(Searched::Narrowed(Box::new(Narrowed::NoneAlone {
            tried: self.tried,
            together: None,
        })))
    }

    /// On a fresh server each time: group testing for the suspect that fails alone, else
    /// the smallest set that fails together (unless as many blobs sent whole kill the
    /// server too: it dies after about that many connections).
    async fn in_groups(&mut self) -> Result<Searched<'c>, SetupError> {
        let order = self.order;
        match groups::search(order.len(), &mut *self).await? {
            Failing::Alone(i) => Ok(culprit(order, i)),
            Failing::Together(set) => {
                if let Some(n) = dies_after(self.rig, order, self.spend).await? {
                    return Ok(Searched::Narrowed(Box::new(Narrowed::DiesAfter {
                        connections: n,
                    })));
                }
                let set = groups::smallest(set, &mut *self).await?;
                Ok(match set[..] {
                    [i] => culprit(order, i),
                    _ => Searched::Narrowed(Box::new(Narrowed::Together {
                        cases: set.iter().map(|&i| order[i].0.clone()).collect(),
                    })),
                })
            }
            Failing::Nothing => self.all_at_once().await,
        }
    }

    /// Nothing failed alone or in the groups tried: all of them at once, as in the run?
    async fn all_at_once(&mut self) -> Result<Searched<'c>, SetupError> {
        let order = self.order;
        let all: Vec<usize> = (0..order.len()).collect();
        let together = match self.together(&all).await? {
            Some(true) if order.len() > 1 => {
                if let Some(n) = dies_after(self.rig, order, self.spend).await? {
                    return Ok(Searched::Narrowed(Box::new(Narrowed::DiesAfter {
                        connections: n,
                    })));
                }
                Some(true)
            }
            other => other,
        };
        Ok(Searched::Narrowed(Box::new(Narrowed::NoneAlone {
            tried: self.tried,
            together,
        })))
    }
}

impl Replay for Replayer<'_, '_, '_> {
    type Error = SetupError;

    async fn fails(&mut self, set: &[usize]) -> Result<Option<bool>, SetupError> {
        match set {
            [i] => self.alone(*i).await,
            _ => self.together(set).await,
        }
    }
}

fn culprit<'c>(order: &[(Case, &'c Blob)], i: usize) -> Searched<'c> {
    let (case, blob) = &order[i];
    Searched::Culprit(case.clone(), blob)
}

//! Why a run did not pass: it could not run ([`SetupError`]), or it found a bug
//! ([`Finding`]). [`Failure`] keeps them apart, so a broken test setup is never mistaken for
//! a bug in the server, nor the other way round.

use std::error::Error;
use std::fmt;

use super::finding::Finding;
use super::findings::Findings;
use crate::error::SetupError;

/// Why a run did not pass.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// The run could not start or go on; the server was not (fully) tested.
    Setup(SetupError),
    /// The server misbehaved: a bug was found.
    Finding(Box<Finding>),
    /// A run that kept going after each finding ([`Stutter::keep_going`]) found these.
    ///
    /// [`Stutter::keep_going`]: crate::Stutter::keep_going
    Findings(Box<Findings>),
}

impl Failure {
    /// The finding, if this failure is one.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            Failure::Finding(f) => Some(f),
            Failure::Findings(all) => all.distinct.first().map(|d| &d.finding),
            Failure::Setup(_) => None,
        }
    }

    /// Every distinct finding of a run that kept going; `None` for one that stopped at its
    /// first.
    pub fn findings(&self) -> Option<&Findings> {
        match self {
            Failure::Findings(all) => Some(all),
            _ => None,
        }
    }

    /// The setup error, if this failure is one.
    pub fn setup_error(&self) -> Option<&SetupError> {
        match self {
            Failure::Setup(e) => Some(e),
            Failure::Finding(_) | Failure::Findings(_) => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Setup(e) => write!(f, "stutterfuzz could not run: {e}"),
            Failure::Finding(finding) => finding.fmt(f),
            Failure::Findings(all) => all.fmt(f),
        }
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Failure::Setup(e) => Some(e),
            Failure::Finding(_) | Failure::Findings(_) => None,
        }
    }
}

impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Self {
        Failure::Setup(e)
    }
}

impl From<Finding> for Failure {
    fn from(f: Finding) -> Self {
        Failure::Finding(Box::new(f))
    }
}

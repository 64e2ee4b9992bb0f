//! What counts as a bug in a client: it failed (a non-zero exit, a signal, a panic), it
//! hung, it printed a line that marks a bug, or what it printed or returned differs from
//! what it gives when the answers reach it whole, but for the parts that vary by themselves
//! (the noise model servers' answers are judged with, learnt from the client's own whole
//! runs).

use std::fmt;
use std::time::Duration;

use super::under_test::{ClientRun, Ending};
use crate::oracle::Volatile;

/// What the client did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFindingKind {
    /// It exited with a non-zero status, was killed by a signal, or panicked.
    Failed {
        /// How, in words ("exited with status 1", "panicked: ...").
        how: String,
    },
    /// It had not finished when the time was up.
    Hung {
        /// The time it had.
        after: Duration,
    },
    /// It printed a line that marks a bug (a sanitizer report, a panic).
    Alarm {
        /// The line, with the stream it came on.
        line: String,
    },
    /// It printed (a process) or returned (a function) something else than when the answers
    /// reach it whole.
    OutputDiffers {
        /// The first byte of the whole-answers output that differs.
        first_difference: usize,
    },
}

impl ClientFindingKind {
    /// True when `other` is the same kind of failure (a confirmation must fail alike).
    pub(crate) fn same_kind(&self, other: &ClientFindingKind) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl fmt::Display for ClientFindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientFindingKind::Failed { how } => write!(f, "the client {how}"),
            ClientFindingKind::Hung { after } => write!(
                f,
                "the client hung: still running after {}",
                humantime::format_duration(*after)
            ),
            ClientFindingKind::Alarm { line } => write!(f, "the client printed {line:?}"),
            ClientFindingKind::OutputDiffers { first_difference } => write!(
                f,
                "the client's output differs from what it gives when nothing is cut, from byte {first_difference}"
            ),
        }
    }
}

/// What the client gives when the answers reach it whole, and what of that varies.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expected {
    pub(crate) output: Vec<u8>,
    pub(crate) noise: Volatile,
}

impl Expected {
    /// Learns from another whole run what varies (a clock, an id).
    pub(crate) fn learn(&mut self, again: &[u8]) {
        if !self.noise.learn(&self.output, again) {
            // The two do not line up at all: the latest stands for what is expected.
            self.output = again.to_vec();
        }
    }

    /// The bug `run` shows, if any.
    pub(crate) fn judge(&self, run: &ClientRun) -> Option<ClientFindingKind> {
        match &run.ending {
            Ending::Failed(how) => return Some(ClientFindingKind::Failed { how: how.clone() }),
            Ending::Hung(after) => return Some(ClientFindingKind::Hung { after: *after }),
            Ending::Passed => {}
        }
        if let Some(line) = &run.alarm {
            return Some(ClientFindingKind::Alarm { line: line.clone() });
        }
        self.noise
            .counted_difference(&self.output, &run.output)
            .map(|first_difference| ClientFindingKind::OutputDiffers { first_difference })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::OutputSnapshot;

    fn run(ending: Ending, output: &[u8]) -> ClientRun {
        ClientRun {
            ending,
            output: output.to_vec(),
            stderr: OutputSnapshot::default(),
            alarm: None,
        }
    }

    #[test]
    fn a_client_fails_by_its_end_its_alarms_or_its_output_but_not_by_noise() {
        let mut expected = Expected {
            output: b"value=42 at 12:00:01\n".to_vec(),
            ..Expected::default()
        };
        expected.learn(b"value=42 at 12:00:02\n");
        assert_eq!(
            expected.judge(&run(Ending::Passed, b"value=42 at 12:00:09\n")),
            None
        );
        assert_eq!(
            expected.judge(&run(Ending::Passed, b"value=4 at 12:00:09\n")),
            Some(ClientFindingKind::OutputDiffers {
                first_difference: 6
            })
        );
        let failed = expected.judge(&run(Ending::Failed("exited with status 1".into()), b""));
        assert!(matches!(failed, Some(ClientFindingKind::Failed { .. })));
        let hung = expected
            .judge(&run(Ending::Hung(Duration::from_secs(2)), b""))
            .unwrap();
        assert_eq!(hung.to_string(), "the client hung: still running after 2s");
        let mut alarmed = run(Ending::Passed, b"value=42 at 12:00:03\n");
        alarmed.alarm = Some("stderr: ==1==ERROR: AddressSanitizer".into());
        assert!(matches!(
            expected.judge(&alarmed),
            Some(ClientFindingKind::Alarm { .. })
        ));
    }
}

//! How the run treats each kind of finding, decided in one table: whether it waits for the
//! verdict gate, how narrowing replays it, whether one case alone can show it at all. One
//! exhaustive `match`, so a new kind does not compile until each of these is decided for it;
//! the engine, narrowing and the report ask here rather than keep lists of their own.

use super::FindingKind;

/// What the run does with a finding of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Treatment {
    /// It counts only once the verdict gate has delivered it again alone, beside fresh
    /// whole answers (other deliveries, the server's own variation or its readiness may
    /// have caused it). A death, a refusal or an alarm line counts as it is.
    pub(crate) gated: bool,
    /// It is about the server as a whole: narrowing replays each try on a fresh server, so
    /// one case's effect is never blamed on the next.
    pub(crate) server_level: bool,
    /// Only the whole run's load shows it, never one case alone: it is not narrowed, and
    /// the same run again (its seed) is what reproduces it.
    pub(crate) whole_run: bool,
    /// A hang: every try costs a wait, so tries wait side by side, each for a short time.
    pub(crate) hang: bool,
    /// A crash the server may say the place of (a panic, a sanitizer report): narrowing
    /// keeps that place, and it locates the finding's signature.
    pub(crate) crash: bool,
    /// The server ended: what it printed as it ended is the finding's evidence, not a hint.
    pub(crate) ended: bool,
}

impl FindingKind {
    /// How the run treats a finding of this kind.
    pub(crate) fn treatment(&self) -> Treatment {
        let none = Treatment {
            gated: false,
            server_level: false,
            whole_run: false,
            hang: false,
            crash: false,
            ended: false,
        };
        match self {
            FindingKind::ServerDied { .. } => Treatment {
                server_level: true,
                crash: true,
                ended: true,
                ..none
            },
            FindingKind::ServerTaskEnded { .. } => Treatment {
                ended: true,
                ..none
            },
            FindingKind::ConnectRefused { .. } => Treatment {
                server_level: true,
                ..none
            },
            FindingKind::ConnectTimeout { .. } => Treatment {
                server_level: true,
                whole_run: true,
                ..none
            },
            FindingKind::ServerStoppedReading { .. } => Treatment {
                whole_run: true,
                ..none
            },
            FindingKind::ResponseDiffers { .. }
            | FindingKind::ProtocolFailure { .. }
            | FindingKind::CheckFailed { .. } => Treatment {
                gated: true,
                ..none
            },
            FindingKind::NoResponse { .. } => Treatment {
                gated: true,
                hang: true,
                ..none
            },
            FindingKind::OutputMatched { .. } => Treatment {
                server_level: true,
                crash: true,
                ..none
            },
            FindingKind::StoppedServingOthers { .. } => Treatment {
                gated: true,
                ..none
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    fn every_kind() -> Vec<FindingKind> {
        let d = Duration::from_secs(1);
        vec![
            FindingKind::ServerDied {
                status: std::process::ExitStatus::from_raw(6),
            },
            FindingKind::ServerTaskEnded { panic: None },
            FindingKind::ConnectRefused {
                error: String::new(),
            },
            FindingKind::ConnectTimeout {
                after: d,
                alone: true,
            },
            FindingKind::ServerStoppedReading { unread_for: d },
            FindingKind::ResponseDiffers {
                expected: Vec::new(),
                actual: Vec::new(),
                first_difference: None,
                expected_closed: false,
                actual_closed: false,
                decoded: None,
            },
            FindingKind::ProtocolFailure {
                protocol: "HTTP/2",
                what: "GOAWAY",
                code: 1,
                answer: Vec::new(),
            },
            FindingKind::NoResponse {
                waited: d,
                received: 0,
                expected: None,
                last_boundary: 0,
            },
            FindingKind::CheckFailed {
                message: String::new(),
            },
            FindingKind::OutputMatched {
                stream: "stderr",
                line: String::new(),
                pattern: String::new(),
            },
            FindingKind::StoppedServingOthers {
                pause: d,
                waited: d,
                probe: "not answered",
            },
        ]
    }

    #[test]
    fn the_table_is_consistent() {
        for kind in every_kind() {
            let t = kind.treatment();
            // What one delivery's answer shows is confirmed alone; what the server as a
            // whole did counts as it is.
            assert!(
                !(t.gated && (t.server_level || t.crash || t.ended)),
                "{kind:?}"
            );
            // What only the whole run shows cannot wait for a delivery alone.
            assert!(!(t.whole_run && t.gated), "{kind:?}");
            assert!(!t.hang || t.gated, "{kind:?}");
            assert!(!t.crash || t.server_level, "{kind:?}");
        }
    }
}

//! The one place where what the server did becomes a finding kind: it ended, it printed an
//! alarming line (or an in-process task panicked), a connect failed, or it stopped reading. A connect that failed
//! on the harness's own side (no local port, no descriptor) is no finding but a setup error.

use std::time::Duration;

use super::FindingKind;
use crate::error::{SetupError, SetupErrorKind};
use crate::server::{Alarm, Exit, TaskEnd};
use crate::wire::{ConnectError, Neglect};

/// The finding a server ending while being fuzzed is.
pub(crate) fn exited(exit: Exit) -> FindingKind {
    match exit {
        Exit::Process(status) => FindingKind::ServerDied { status },
        Exit::Task(TaskEnd::Returned) => FindingKind::ServerTaskEnded { panic: None },
        Exit::Task(TaskEnd::Panicked(message)) => FindingKind::ServerTaskEnded {
            panic: Some(message),
        },
    }
}

/// The finding an alarming output line (or a task's panic) is, while the server lives on.
pub(crate) fn alarmed(alarm: Alarm) -> FindingKind {
    FindingKind::OutputMatched {
        stream: alarm.source.name(),
        line: alarm.line,
        pattern: alarm.pattern,
    }
}

/// The finding, of what was seen about one moment: the server's end comes first (a panic or
/// sanitizer line printed as it died is its evidence), then an alarm line while it lives
/// on, then what the answer showed. The one order between these signals.
pub(crate) fn first_of(
    exit: Option<Exit>,
    alarm: Option<Alarm>,
    answer: Option<FindingKind>,
) -> Option<FindingKind> {
    match (exit, alarm) {
        (Some(exit), _) => Some(exited(exit)),
        (None, Some(alarm)) => Some(alarmed(alarm)),
        (None, None) => answer,
    }
}

/// How long bytes may wait unread, with no read seen on any connection, before the server
/// counts as having stopped reading (frozen or deadlocked).
const STALLED: Duration = Duration::from_secs(3);

/// The finding a server that has left bytes unread for `unread_for` is, if it is one.
pub(crate) fn stopped_reading(unread_for: Option<Duration>) -> Option<FindingKind> {
    unread_for
        .filter(|waited| *waited >= STALLED)
        .map(|unread_for| FindingKind::ServerStoppedReading { unread_for })
}

/// The finding a probe that went unserved during a pause mid-message is.
pub(crate) fn neglected(neglect: Neglect) -> FindingKind {
    FindingKind::StoppedServingOthers {
        pause: neglect.pause,
        waited: neglect.waited,
        probe: neglect.unserved.describe(),
    }
}

/// True for a finding about one delivery's answer (it differs, ended otherwise, came short
/// or not at all, failed the user's check, or a probe went unserved during a pause): it
/// counts only once it passes the verdict gate, delivered again alone beside fresh whole
/// answers. Other deliveries running at the same time may have caused it (through state
/// they share in the server), the server may vary by itself, or it may not have been
/// ready. A server that died, refused or printed an alarm is a finding as it is.
pub(crate) fn gated(kind: &FindingKind) -> bool {
    kind.treatment().gated
}

/// The finding a failed connect is, or the setup error when the harness's own side failed,
/// for a connect made `alone` or beside other deliveries. A server that stopped accepting
/// after it had left bytes unread for a while (`unread_since`) is frozen or deadlocked: the
/// reads tell more than the connects.
pub(crate) fn connect_failed_during_run(
    error: ConnectError,
    unread_since: Option<Duration>,
    alone: bool,
) -> Result<FindingKind, SetupError> {
    if matches!(error, ConnectError::TimedOut(_))
        && let Some(kind) = stopped_reading(unread_since)
    {
        return Ok(kind);
    }
    let mut kind = connect_failed(error)?;
    if let FindingKind::ConnectTimeout { alone: was, .. } = &mut kind {
        *was = alone;
    }
    Ok(kind)
}

/// The finding a failed connect, made alone, is, or the setup error when the harness's own
/// side failed.
pub(crate) fn connect_failed(error: ConnectError) -> Result<FindingKind, SetupError> {
    match error {
        ConnectError::Refused(e) => Ok(FindingKind::ConnectRefused {
            error: e.to_string(),
        }),
        ConnectError::TimedOut(after) => Ok(FindingKind::ConnectTimeout { after, alone: true }),
        ConnectError::Tls(e) => Err(SetupError::new(
            SetupErrorKind::Settings,
            format!(
                "the TLS handshake failed: {e}; check the CA (--tls-ca / TlsOptions::with_ca) and the server name (--tls-server-name), or skip the check for a test server (--tls-insecure)"
            ),
        )
        .with_source(e)),
        ConnectError::WholeBlob(message) => Err(SetupError::new(SetupErrorKind::Settings, message)),
        ConnectError::Local(e) => Err(SetupError::new(
            SetupErrorKind::Harness,
            format!(
                "the harness could not open a connection: {e}; lower the connection count \
                 (.connections / --num-conns) or raise the open-file limit (ulimit -n)"
            ),
        )
        .with_source(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::AlarmSource;

    #[test]
    fn connects_that_failed_on_our_side_are_setup_errors() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            connect_failed(ConnectError::Refused(refused)),
            Ok(FindingKind::ConnectRefused { .. })
        ));
        let local = std::io::Error::from_raw_os_error(24);
        let err = connect_failed(ConnectError::Local(local)).unwrap_err();
        assert_eq!(err.kind(), SetupErrorKind::Harness);
        assert!(err.to_string().contains("ulimit -n"), "{err}");
    }

    #[test]
    fn bytes_left_unread_for_seconds_mean_the_server_stopped_reading() {
        assert_eq!(stopped_reading(None), None);
        assert_eq!(stopped_reading(Some(Duration::from_millis(2900))), None);
        let kind = stopped_reading(Some(Duration::from_secs(4))).unwrap();
        assert!(
            kind.headline()
                .starts_with("the server stopped reading (frozen or deadlocked)"),
            "{}",
            kind.headline()
        );
    }

    #[test]
    fn only_findings_about_an_answer_pass_the_gate() {
        let differs = FindingKind::ResponseDiffers {
            expected: b"+1".to_vec(),
            actual: b"-nil".to_vec(),
            first_difference: Some(0),
            expected_closed: false,
            actual_closed: false,
            decoded: None,
        };
        assert!(gated(&differs));
        let short = |received| FindingKind::NoResponse {
            waited: Duration::from_secs(2),
            received,
            expected: Some(20),
            last_boundary: 3,
        };
        assert!(gated(&short(16)), "a short answer");
        assert!(gated(&short(0)), "no answer at all");
        assert!(!gated(&FindingKind::ConnectTimeout {
            after: Duration::from_secs(1),
            alone: false,
        }));
        assert!(!gated(&FindingKind::ConnectRefused {
            error: "refused".into()
        }));
    }

    #[test]
    fn a_task_panic_is_shown_as_coming_from_a_panic() {
        let kind = alarmed(Alarm {
            source: AlarmSource::TaskPanic,
            line: "thread 'x' panicked at a.rs:1".into(),
            pattern: "panicked at".into(),
        });
        assert!(
            kind.headline()
                .starts_with("a task of the in-process server panicked"),
            "{}",
            kind.headline()
        );
    }
}

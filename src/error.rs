//! Setup errors: the run could not start or go on, so nothing was learnt about the server.
//! Each message says what to do. (A bug found is a [`Finding`](crate::Finding); the
//! [`Failure`](crate::Failure) of a run keeps the two apart.)

use std::error::Error;
use std::fmt;

/// What went wrong before (or around) fuzzing: nothing was learnt about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SetupErrorKind {
    /// The blob directory or a blob could not be used.
    Blobs,
    /// The address did not parse or resolve.
    Address,
    /// A setting or a `STUTTERFUZZ_*` variable is out of range or does not parse.
    Settings,
    /// The server program could not be spawned.
    ServerSpawn,
    /// The server exited or never accepted connections during start-up.
    ServerStartup,
    /// No `.server(...)` was given and nothing listens at the address.
    NotListening,
    /// A case to replay does not parse or does not fit the blobs.
    Replay,
    /// The harness itself could not run (for example, no thread or runtime).
    Harness,
    /// The client under test could not be started, never connected, or fails even when the
    /// answers reach it whole.
    Client,
}

/// A run that could not start or go on, with a message that says what to do.
#[derive(Debug)]
pub struct SetupError {
    kind: SetupErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl SetupError {
    pub(crate) fn new(kind: SetupErrorKind, message: impl Into<String>) -> Self {
        SetupError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of setup problem this is.
    pub fn kind(&self) -> SetupErrorKind {
        self.kind
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for SetupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

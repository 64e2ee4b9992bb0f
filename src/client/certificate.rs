//! The run's TLS certificate, for a client that starts TLS with the harness (STARTTLS): the
//! stand-in, or the relay in front of a real server, accepts its handshake itself to cut the
//! answers inside TLS, so the client must trust the harness. The certificate is the one given
//! ([`StutterClient::tls_identity`](super::StutterClient::tls_identity)), or a throwaway one
//! for localhost made for the run in a folder of its own, removed with it. The client gets its
//! path as `{cert}` in its arguments and `STUTTERFUZZ_CERT` (a command), or from
//! [`StutterClient::certificate_path`](super::StutterClient::certificate_path) (a function in
//! this process).

use std::path::PathBuf;

use super::answers::Answers;
use super::plan::Settings;
use super::under_test::UnderTest;
use crate::error::{SetupError, SetupErrorKind};
use crate::tls::server::Identity;

/// The placeholder of a client command's arguments that becomes the certificate's path.
pub(crate) const PLACEHOLDER: &str = "{cert}";

/// The variable of a client command's environment that holds the certificate's path.
pub(crate) const VARIABLE: &str = "STUTTERFUZZ_CERT";

tokio::task_local! {
    /// The certificate an in-process client is to trust, while it runs.
    static CERTIFICATE: PathBuf;
}

/// The certificate the in-process client running now is to trust, if the run has one.
pub(crate) fn current() -> Option<PathBuf> {
    CERTIFICATE.try_with(PathBuf::clone).ok()
}

/// The harness's side of TLS toward the client, for one run.
pub(crate) struct RunIdentity {
    pub(crate) identity: Identity,
    /// The folder of a throwaway certificate, removed with the run.
    _dir: Option<tempfile::TempDir>,
}

/// The run's identity, when it may need one: given, or a conversation marks TLS, or the
/// relay has TLS settings for the server, or the client's command asks for `{cert}`.
pub(crate) fn for_run(
    settings: &Settings,
    answers: &Answers,
) -> Result<Option<RunIdentity>, SetupError> {
    let error = |message: String| SetupError::new(SetupErrorKind::Settings, message);
    if let Some((cert, key)) = &settings.tls_identity {
        let identity = Identity::load(cert, key).map_err(error)?;
        return Ok(Some(RunIdentity {
            identity,
            _dir: None,
        }));
    }
    let asked = match &settings.client {
        UnderTest::Process(spec) => spec.uses(PLACEHOLDER),
        UnderTest::InProcess(_) => false,
    };
    if !(asked || answers.marks_tls() || settings.tls.is_some()) {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("stutterfuzz-")
        .tempdir()
        .map_err(|e| error(format!("cannot make a folder for the TLS certificate: {e}")))?;
    let identity = Identity::throwaway(&dir.path().join("cert.pem")).map_err(error)?;
    Ok(Some(RunIdentity {
        identity,
        _dir: Some(dir),
    }))
}

impl UnderTest {
    /// The same client, told to trust the certificate at `cert`.
    pub(crate) fn trusting(self, cert: &std::path::Path) -> UnderTest {
        match self {
            UnderTest::Process(spec) => {
                UnderTest::Process(spec.with_file(PLACEHOLDER, VARIABLE, cert))
            }
            UnderTest::InProcess(client) => {
                let cert = cert.to_owned();
                UnderTest::InProcess(std::sync::Arc::new(move |addr| {
                    Box::pin(CERTIFICATE.scope(cert.clone(), client(addr)))
                }))
            }
        }
    }
}

//! The client run with its answers whole, before any is cut: twice, to learn what it
//! gives and what of that varies, and what its first connection carried each way (cases are
//! drawn over those bytes). A client that fails, hangs or never connects even so is a setup
//! error: cut answers would prove nothing.

use super::attempt::{Attempt, Ctx};
use super::case::UPSTREAM;
use super::judge::Expected;
use super::relay::Cutting;
use super::streams::Streams;
use super::under_test::Ending;
use crate::error::{SetupError, SetupErrorKind};

/// Runs the client twice with its answers whole: what it gives, what of that varies, the
/// answers' bytes (patterns are drawn over them) and their source's name.
pub(super) async fn baseline(ctx: &Ctx) -> Result<(Expected, Streams, String), SetupError> {
    let first = whole(ctx).await?;
    let second = whole(ctx).await?;
    let mut expected = Expected {
        output: first.run.output.clone(),
        ..Expected::default()
    };
    expected.learn(&second.run.output);
    let served = &first.served[0];
    let source = served
        .conversation
        .clone()
        .unwrap_or_else(|| UPSTREAM.to_owned());
    let streams = Streams {
        answers: served.answered.clone(),
        requests: served.requested.clone(),
    };
    Ok((expected, streams, source))
}

/// One run with the answers whole, which must pass.
async fn whole(ctx: &Ctx) -> Result<Attempt, SetupError> {
    let attempt = ctx.attempt(Cutting::default()).await?;
    let client = ctx.describe_client();
    let error = |message: String| SetupError::new(SetupErrorKind::Client, message);
    if let Some(why) = attempt.served.iter().find_map(|s| s.unreachable.clone()) {
        return Err(error(format!(
            "{why}; start the server first, or give .server(...)"
        )));
    }
    let stderr = attempt.run.stderr.indented();
    match &attempt.run.ending {
        Ending::Passed if attempt.run.alarm.is_none() => {}
        Ending::Passed | Ending::Failed(_) | Ending::Hung(_) => {
            let how = match (&attempt.run.ending, &attempt.run.alarm) {
                (Ending::Failed(how), _) => how.clone(),
                (Ending::Hung(after), _) => format!(
                    "was still running after {} (raise Timeouts::client / --timeout if it needs longer)",
                    humantime::format_duration(*after)
                ),
                (_, alarm) => format!("printed {:?}", alarm.clone().unwrap_or_default()),
            };
            let never = if attempt.served.is_empty() {
                " and never connected (give it the address as {addr}, or {host} and {port})"
                    .to_owned()
            } else {
                no_tls(&attempt)
            };
            return Err(error(format!(
                "the client {how}{never} even with the answers whole, so cut answers would prove nothing: fix the client or its command ({client}){}",
                if stderr.is_empty() {
                    String::new()
                } else {
                    format!("; its stderr:\n{stderr}")
                }
            )));
        }
    }
    if attempt.served.is_empty() {
        return Err(error(format!(
            "the client ({client}) passed without connecting: give it the address to connect to as {{addr}}, or {{host}} and {{port}}"
        )));
    }
    if attempt.served[0].answered.is_empty() {
        return Err(error(
            "the client's first connection got no answer at all, so there is nothing to cut: check what it sends".to_owned(),
        ));
    }
    Ok(attempt)
}

/// Why a client's TLS did not start (with the stand-in, or on both sides of the relay), as
/// part of a setup error.
fn no_tls(attempt: &Attempt) -> String {
    match attempt.served.iter().find_map(|s| s.no_tls.as_deref()) {
        Some(why) => format!(" ({why})"),
        None => String::new(),
    }
}

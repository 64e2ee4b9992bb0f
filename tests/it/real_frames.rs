//! Real servers of framed protocols, none written here, run clean with the answer oracle on
//! and off: hypercorn (HTTP/2 cleartext with prior knowledge) on a three-stream blob with a
//! PING, and an echo server on Node's `ws` package (WebSocket) on a blob with a fragmented
//! message (a ping between its fragments), a 16-bit length and a close. `scripts/test`
//! installs both, pinned, into `fixtures/real` (`.venv`, `node_modules`); a missing one fails
//! these tests, saying so.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use stutterfuzz::AnswerOracle;

/// How long each server is fuzzed: a few seconds, with startup and stop within 15 s.
const FUZZ_FOR: Duration = Duration::from_secs(8);

/// The folder or file `fixtures/real/<name>`.
fn real(name: &str) -> PathBuf {
    common::fixtures_dir("real").join(name)
}

/// Fails, saying how to install it, when `what` is missing at `path`.
fn installed(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is not installed ({} is missing): run scripts/test, which installs it",
        path.display()
    );
}

/// The two ways a run judges answers: the same as whole (and in time), or only crashes,
/// refusals, hangs and protocol failures (GOAWAY, RST_STREAM, a WebSocket close with an error).
fn oracle(compared: bool) -> AnswerOracle {
    match compared {
        true => AnswerOracle::same().within(Duration::from_secs(3)),
        false => AnswerOracle::none(),
    }
}

/// hypercorn serving `fixtures/real/h2app.py` on the address the harness picks: one process,
/// no `Date` header (`fixtures/real/hypercorn.toml`).
fn hypercorn() -> Command {
    let program = real(".venv/bin/hypercorn");
    installed(&program, "hypercorn");
    let mut cmd = Command::new(program);
    cmd.arg("--config")
        .arg(real("hypercorn.toml"))
        .args(["--bind", "{addr}"])
        .arg(format!("{}:app", real("h2app.py").display()));
    cmd
}

/// `fixtures/real/ws-echo.js` under node, on the port the harness picks.
fn ws_echo() -> Command {
    common::require("node", "nodejs");
    installed(&real("node_modules/ws/package.json"), "the ws package");
    let mut cmd = Command::new("node");
    cmd.arg(real("ws-echo.js")).arg("{port}");
    cmd
}

/// What a run of [`FUZZ_FOR`] must at least have done: deliveries, and the share of the
/// positions 1 to 8 bytes into each frame (inside its header) that were a cut.
struct AtLeast {
    deliveries: u64,
    record_starts: f64,
}

/// hypercorn answers some 100 deliveries a second alone (about 75% of the positions cut after
/// 120, all after 260); `ws` over 500, all positions cut within a second. The floors leave
/// room for a loaded machine.
const HYPERCORN: AtLeast = AtLeast {
    deliveries: 150,
    record_starts: 0.6,
};
const WS: AtLeast = AtLeast {
    deliveries: 500,
    record_starts: 0.9,
};

/// Fuzzes `server` with the blobs of `fixtures/real/<blobs>` for [`FUZZ_FOR`]: no finding,
/// each delivery cut in several places, and at least what `least` says done.
fn assert_clean(name: &str, server: Command, blobs: &str, compared: bool, least: AtLeast) {
    let report = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(real(blobs))
        .oracle(oracle(compared))
        .try_run_for(FUZZ_FOR)
        .unwrap_or_else(|failure| {
            panic!("{name} (answers compared: {compared}) is correct, yet:\n{failure}")
        });
    let stats = report.stats();
    eprintln!("{name} (answers compared: {compared}): {stats}");
    assert!(
        stats.deliveries >= least.deliveries,
        "{name} was fuzzed: {stats}"
    );
    assert!(
        stats.chunks >= 3 * stats.deliveries,
        "{name}: each delivery cut several times: {} chunks; {stats}",
        stats.chunks
    );
    assert!(
        stats.record_coverage >= least.record_starts,
        "{name}: cuts inside frame headers: {stats}"
    );
}

#[test]
fn hypercorn_over_http2_is_clean_with_answers_compared() {
    assert_clean("hypercorn", hypercorn(), "h2", true, HYPERCORN);
}

#[test]
fn hypercorn_over_http2_is_clean_without_answers_compared() {
    assert_clean("hypercorn", hypercorn(), "h2", false, HYPERCORN);
}

#[test]
fn ws_over_websocket_is_clean_with_answers_compared() {
    assert_clean("ws", ws_echo(), "ws", true, WS);
}

#[test]
fn ws_over_websocket_is_clean_without_answers_compared() {
    assert_clean("ws", ws_echo(), "ws", false, WS);
}

//! Helpers for the integration tests: where the fixture servers and blobs are, and how to
//! check by PID that no process was left behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use stutterfuzz::Regressions;

/// The fixture blobs, as a user's test would name them.
pub(crate) fn blob_dir() -> PathBuf {
    fixtures_dir("blobs")
}

/// The folder `fixtures/<dir>` of the repository.
pub(crate) fn fixtures_dir(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir)
}

/// The frame a protocol failure names, and its code: `("HTTP/2", "GOAWAY", 1)`; `None` for a
/// finding of another kind.
pub(crate) fn failure_frame(kind: &stutterfuzz::FindingKind) -> Option<(&str, &str, u32)> {
    match kind {
        stutterfuzz::FindingKind::ProtocolFailure {
            protocol,
            what,
            code,
            ..
        } => Some((protocol, what, *code)),
        _ => None,
    }
}

/// A run against the fixture server `fixture` with a planted bug, on the blobs of
/// `fixtures/<dir>` (seed 7; narrowing 5 s: a case that needs many cuts inside one header
/// loses the bug when any is dropped), judged by `oracle` (the defaults when `None`), for at
/// most `budget`: its failure, whose finding came within 10 s of fuzzing.
pub(crate) fn find_planted(
    fixture: &str,
    dir: &str,
    oracle: Option<stutterfuzz::AnswerOracle>,
    budget: Duration,
) -> stutterfuzz::Failure {
    let started = Instant::now();
    let mut fuzz = stutter("127.0.0.1:0")
        .server(fixture_command(fixture, None))
        .blobs(fixtures_dir(dir))
        .seed(7)
        .shrinking(stutterfuzz::Shrinking::default().time(Duration::from_secs(5)));
    if let Some(oracle) = oracle {
        fuzz = fuzz.oracle(oracle);
    }
    let failure = fuzz
        .try_run_for(budget)
        .expect_err("the planted bug is found");
    let finding = failure.finding().expect("a finding");
    eprintln!(
        "{fixture}: found after {:.1} s of fuzzing, {} deliveries; {:.1} s in all\n{finding}",
        finding.stats().elapsed.as_secs_f64(),
        finding.stats().deliveries,
        started.elapsed().as_secs_f64(),
    );
    assert!(
        finding.stats().elapsed < Duration::from_secs(10),
        "found after {:?}:\n{finding}",
        finding.stats().elapsed
    );
    failure
}

/// The path of a fixture server binary. `cargo test` builds them (they are a workspace
/// default member); when a single test is run with `-p stutterfuzz`, they are built here.
pub(crate) fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(name);
    if !path.exists() {
        BUILT.get_or_init(|| {
            let cargo = option_env!("CARGO").unwrap_or("cargo");
            let status = Command::new(cargo)
                .args(["build", "-p", "stutterfuzz-fixtures", "--bins"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the fixture servers failed");
        });
    }
    assert!(
        path.exists(),
        "fixture server {} was not built",
        path.display()
    );
    path
}

/// A fixture server command listening on `{addr}`, recording its PIDs in `pid_file`.
pub(crate) fn fixture_command(name: &str, pid_file: Option<&Path>) -> Command {
    let mut command = Command::new(fixture(name));
    command.args(["--listen", "{addr}"]);
    // A planted panic prints its message and ends the process at once, with no backtrace
    // to symbolize first (which can take longer than the harness waits for the death).
    command.env("RUST_BACKTRACE", "0");
    if let Some(path) = pid_file {
        command.env("FIXTURE_PID_FILE", path);
    }
    command
}

/// The PIDs a fixture wrote (the server first, then its children).
pub(crate) fn read_pids(path: &Path) -> Vec<i32> {
    let text = std::fs::read_to_string(path).expect("the fixture wrote its PID file");
    text.lines()
        .map(|l| l.trim().parse().expect("a PID"))
        .collect()
}

/// Waits (10 s at most) until the fixture has written at least `count` whole lines of PIDs to
/// `path`, and reads them.
pub(crate) fn wait_for_pids(path: &Path, count: usize) -> Vec<i32> {
    wait_until(
        &format!("{count} PIDs in {}", path.display()),
        Duration::from_secs(10),
        || {
            // A whole line ends in '\n': count those.
            std::fs::read_to_string(path).is_ok_and(|text| text.matches('\n').count() >= count)
        },
    );
    read_pids(path)
}

/// Waits (20 s at most) until a fixture given `FIXTURE_ACCEPTS_FILE=path` has accepted at
/// least `count` connections: the run is under way, deliveries in flight.
pub(crate) fn wait_for_accepts(path: &Path, count: u64) {
    wait_until(
        &format!("{count} connections accepted (by {})", path.display()),
        Duration::from_secs(20),
        || accepted(path) >= count,
    );
}

/// How many connections a fixture given `FIXTURE_ACCEPTS_FILE=path` said it accepted (at the
/// last power of two): 0 before the first.
pub(crate) fn accepted(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// True while `pid` is a live process (a zombie counts as gone: it runs nothing).
pub(crate) fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X"))
        }
        Err(_) => false,
    }
}

/// Polls `done` every 20 ms until it holds, and panics naming `what` if it has not within
/// `limit`: the tests wait for what they need this way, not for a fixed time.
pub(crate) fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts every PID is gone, allowing the kernel a moment to finish a SIGKILL.
pub(crate) fn assert_all_gone(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| is_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive: Vec<i32> = pids.iter().copied().filter(|&p| is_alive(p)).collect();
    assert!(alive.is_empty(), "processes left running: {alive:?}");
}

/// A `Stutter` as these tests use it: findings are not recorded in regression files, so
/// one test's finding is never replayed by the next run.
pub(crate) fn stutter(addr: impl std::fmt::Display) -> stutterfuzz::Stutter {
    stutterfuzz::Stutter::new(addr).regressions(Regressions::Off)
}

/// A process a test started itself: killed and reaped when the guard drops, so a failing
/// assertion never leaves it running.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a fixture server on `listen` (port 0: it picks a free port itself, no race) and
/// returns it with the address it says it bound.
pub(crate) fn start_fixture(name: &str, listen: &str) -> (KillOnDrop, String) {
    start(Command::new(fixture(name)).args(["--listen", listen]))
}

/// As [`start_fixture`], the fixture counting its connections in `accepts` (see
/// [`wait_for_accepts`]).
pub(crate) fn start_fixture_with(name: &str, listen: &str, accepts: &Path) -> (KillOnDrop, String) {
    start(
        Command::new(fixture(name))
            .args(["--listen", listen])
            .env("FIXTURE_ACCEPTS_FILE", accepts),
    )
}

/// Starts a fixture command and reads where it listens from its first line.
pub(crate) fn start(command: &mut Command) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the fixture starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the fixture says where it listens");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            panic!(
                "{:?} did not say where it listens: {line:?}",
                command.get_program()
            )
        })
        .to_owned();
    (KillOnDrop(child), addr)
}

/// Fails, saying how to install it, when `program` (from Debian package `package`) is not
/// installed: a test that needs a real server never skips itself.
pub(crate) fn require(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "{program} is not installed: run scripts/test, which installs it, or apt-get install {package}"
    );
}

/// Debian's redis-server on loopback port `port` (a number, or `{port}` for one the harness
/// picks), with no persistence: fails saying how to install it when it is missing.
pub(crate) fn redis_server(port: &str) -> Command {
    require("redis-server", "redis-server");
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
    ]);
    cmd
}

/// `stutterfuzz capture` running in front of `upstream`, writing blobs to `out`.
pub(crate) struct Proxy {
    process: KillOnDrop,
    /// Where clients connect.
    pub(crate) addr: String,
    stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Proxy {
    /// Starts the proxy on a free loopback port and reads where it listens.
    pub(crate) fn start(upstream: &str, out: &Path) -> Proxy {
        Proxy::start_with(upstream, out, &[])
    }

    /// As [`Proxy::start`], with more flags.
    pub(crate) fn start_with(upstream: &str, out: &Path, flags: &[&std::ffi::OsStr]) -> Proxy {
        use assert_cmd::cargo::CommandCargoExt;
        use std::io::BufRead;
        let mut child = Command::cargo_bin("stutterfuzz")
            .expect("the binary is built")
            .args([
                "capture",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                upstream,
                "--out",
            ])
            .arg(out)
            .args(flags)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the proxy starts");
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        stderr
            .read_line(&mut line)
            .expect("the proxy says where it listens");
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("the proxy says where it listens: {line:?}"))
            .to_owned();
        Proxy {
            process: KillOnDrop(child),
            addr,
            stderr,
        }
    }

    /// Stops it with SIGINT, as Ctrl-C would: its exit code and what it printed then.
    pub(crate) fn interrupt(mut self) -> (Option<i32>, String) {
        use std::io::Read;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.process.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("the proxy is ours to signal");
        let mut rest = String::new();
        self.stderr
            .read_to_string(&mut rest)
            .expect("its stderr reads");
        (self.process.0.wait().expect("it ends").code(), rest)
    }
}

/// The command-line tool, with none of the caller's `STUTTERFUZZ_*` settings leaking in and
/// no backtraces: what a user's terminal runs.
pub(crate) fn stutterfuzz_cli() -> Command {
    use assert_cmd::cargo::CommandCargoExt;
    let mut cmd = Command::cargo_bin("stutterfuzz").expect("the binary is built");
    for setting in [
        "STUTTERFUZZ_SEED",
        "STUTTERFUZZ_DURATION",
        "STUTTERFUZZ_REPLAY",
        "STUTTERFUZZ_SHARD",
        "STUTTERFUZZ_SHRINK_TIME",
        "STUTTERFUZZ_SAVE_REGRESSIONS",
    ] {
        cmd.env_remove(setting);
    }
    cmd.env("RUST_BACKTRACE", "0");
    cmd
}

/// Debian's PostgreSQL server with a fresh database in `dir` (`initdb`, trust for every
/// local connection, no fsync), to be started with `args` added: as root, as `nobody` (the
/// server refuses to run as root), which then owns `dir` and the files in it. Fails saying
/// how to install it when it is missing.
pub(crate) fn postgres(dir: &Path, args: &[&str]) -> Command {
    require("postgres", "postgresql");
    let data = dir.join("data");
    let as_server = |program: &str| {
        let mut cmd = if nix::unistd::geteuid().is_root() {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                program,
            ]);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(dir);
        cmd
    };
    if nix::unistd::geteuid().is_root() {
        let nobody = nix::unistd::User::from_name("nobody")
            .unwrap()
            .expect("a user nobody");
        let owner = (Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()));
        std::os::unix::fs::chown(dir, owner.0, owner.1).unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            std::os::unix::fs::chown(entry.unwrap().path(), owner.0, owner.1).unwrap();
        }
    }
    let init = as_server("initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ])
        .args(["-E", "UTF8", "--locale=C"])
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut server = as_server("postgres");
    server
        .arg("-D")
        .arg(&data)
        .args(["-c", "fsync=off", "-c", "autovacuum=off"])
        .args(args);
    server
}

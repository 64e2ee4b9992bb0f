//! Running the server under valgrind with the original tool's strict flags, so memory errors
//! that would stay silent become findings (valgrind's messages are watched for, and its
//! error exit status ends the run).

use std::process::Command;

/// The flags the original tool recommends, plus an error exit code so that valgrind's
/// errors also show as a non-zero exit.
pub const VALGRIND_FLAGS: [&str; 5] = [
    "--error-exitcode=99",
    "--track-fds=yes",
    "--show-leak-kinds=all",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
];

/// Wraps `server` to run under `valgrind` with [`VALGRIND_FLAGS`], keeping its arguments
/// (placeholders included), environment and working directory.
///
/// ```no_run
/// use std::{process::Command, time::Duration};
/// use stutterfuzz::{Stutter, Timeouts, valgrind};
///
/// let mut server = Command::new("target/debug/myserver");
/// server.args(["--listen", "{addr}"]);
/// Stutter::new("127.0.0.1:0")
///     .server(valgrind(&server))
///     .timeouts(Timeouts::default().startup(Duration::from_secs(30))) // valgrind starts slowly
///     .blobs("fixtures/blobs")
///     .run_for(Duration::from_secs(60));
/// ```
pub fn valgrind(server: &Command) -> Command {
    let mut wrapped = Command::new("valgrind");
    wrapped.args(VALGRIND_FLAGS);
    wrapped.arg(server.get_program());
    wrapped.args(server.get_args());
    for (key, value) in server.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = server.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_server_runs_under_valgrind_with_its_own_arguments() {
        let mut server = Command::new("/bin/srv");
        server
            .args(["--listen", "{addr}"])
            .env("MODE", "x")
            .current_dir("/tmp");
        let wrapped = valgrind(&server);
        assert_eq!(wrapped.get_program(), "valgrind");
        let args: Vec<&OsStr> = wrapped.get_args().collect();
        assert_eq!(&args[..5], VALGRIND_FLAGS.map(OsStr::new).as_slice());
        assert_eq!(
            &args[5..],
            ["/bin/srv", "--listen", "{addr}"]
                .map(OsStr::new)
                .as_slice()
        );
        assert_eq!(
            wrapped.get_envs().collect::<Vec<_>>(),
            [(OsStr::new("MODE"), Some(OsStr::new("x")))]
        );
        assert_eq!(
            wrapped.get_current_dir(),
            Some(std::path::Path::new("/tmp"))
        );
    }
}

//! What to spawn: the user's `Command`, stored as data, with address placeholders.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// The server command as data: program, arguments, environment and directory.
#[derive(Clone, Debug)]
pub(crate) struct ServerSpec {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl ServerSpec {
    pub(crate) fn from_command(command: &Command) -> Self {
        ServerSpec {
            program: command.get_program().to_owned(),
            args: command.get_args().map(OsStr::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(OsStr::to_owned)))
                .collect(),
            current_dir: command.get_current_dir().map(Into::into),
        }
    }

    /// The program, for messages.
    pub(crate) fn program(&self) -> &OsStr {
        &self.program
    }

    /// The command line as a user would type it, for messages.
    pub(crate) fn display(&self, addr: SocketAddr) -> String {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(
            self.args
                .iter()
                .map(|a| substitute(a, addr).to_string_lossy().into_owned()),
        );
        words.join(" ")
    }

    /// A `Command` for this server listening on `addr`: `{addr}`, `{host}` and `{port}` in
    /// its arguments replaced, `STUTTERFUZZ_ADDR` and `STUTTERFUZZ_PORT` set.
    pub(crate) fn command(&self, addr: SocketAddr) -> Command {
        let mut command = Command::new(&self.program);
        command.args(self.args.iter().map(|a| substitute(a, addr)));
        for (key, value) in &self.envs {
            match value {
                Some(v) => command.env(key, v),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command.env("STUTTERFUZZ_ADDR", addr.to_string());
        command.env("STUTTERFUZZ_PORT", addr.port().to_string());
        command
    }
}

/// Replaces the placeholders in one argument; arguments that are not UTF-8 pass unchanged.
fn substitute(arg: &OsStr, addr: SocketAddr) -> OsString {
    match arg.to_str() {
        Some(text) if text.contains('{') => text
            .replace("{addr}", &addr.to_string())
            .replace("{host}", &addr.ip().to_string())
            .replace("{port}", &addr.port().to_string())
            .into(),
        _ => arg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_environment_are_filled_in() {
        let mut cmd = Command::new("srv");
        cmd.args(["--listen", "{addr}", "-h", "{host}", "-p={port}"])
            .env("KEEP", "1");
        let spec = ServerSpec::from_command(&cmd);
        let addr: SocketAddr = "[::1]:6789".parse().unwrap();
        let built = spec.command(addr);
        let args: Vec<&OsStr> = built.get_args().collect();
        assert_eq!(args, ["--listen", "[::1]:6789", "-h", "::1", "-p=6789"]);
        let envs: Vec<_> = built.get_envs().collect();
        assert!(envs.contains(&(OsStr::new("KEEP"), Some(OsStr::new("1")))));
        assert!(envs.contains(&(
            OsStr::new("STUTTERFUZZ_ADDR"),
            Some(OsStr::new("[::1]:6789"))
        )));
        assert!(envs.contains(&(OsStr::new("STUTTERFUZZ_PORT"), Some(OsStr::new("6789")))));
        assert_eq!(spec.display(addr), "srv --listen [::1]:6789 -h ::1 -p=6789");
    }
}

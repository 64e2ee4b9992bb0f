//! What to spawn: the user's `Command`, stored as data, with address placeholders.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;

use crate::config::Endpoint;
use crate::platform::Exec;

/// The server command as data: program, arguments, environment and directory.
#[derive(Clone, Debug)]
pub(crate) struct ProgramSpec {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
    /// Files the harness made for the program: a placeholder in its arguments, the variable
    /// of its environment, and the path both become (`{cert}`, `STUTTERFUZZ_CERT`).
    files: Vec<(&'static str, &'static str, PathBuf)>,
}

impl ProgramSpec {
    pub(crate) fn from_command(command: &Command) -> Self {
        ProgramSpec {
            program: command.get_program().to_owned(),
            args: command.get_args().map(OsStr::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(OsStr::to_owned)))
                .collect(),
            current_dir: command.get_current_dir().map(Into::into),
            files: Vec::new(),
        }
    }

    /// The same program, given the file at `path` as `placeholder` in its arguments and as
    /// the variable `env`.
    pub(crate) fn with_file(
        mut self,
        placeholder: &'static str,
        env: &'static str,
        path: &std::path::Path,
    ) -> Self {
        self.files.push((placeholder, env, path.to_owned()));
        self
    }

    /// Whether `placeholder` stands in its arguments.
    pub(crate) fn uses(&self, placeholder: &str) -> bool {
        self.args
            .iter()
            .any(|a| a.to_str().is_some_and(|a| a.contains(placeholder)))
    }

    /// One argument with every placeholder filled in.
    fn fill(&self, arg: &OsStr, addr: &Endpoint) -> OsString {
        let mut arg = substitute(arg, addr);
        for (placeholder, _, path) in &self.files {
            if let Some(text) = arg.to_str().filter(|t| t.contains(placeholder)) {
                arg = text.replace(placeholder, &path.to_string_lossy()).into();
            }
        }
        arg
    }

    /// The program, for messages.
    pub(crate) fn program(&self) -> &OsStr {
        &self.program
    }

    /// The command line as a user would type it, for messages.
    pub(crate) fn display(&self, addr: &Endpoint) -> String {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(
            self.args
                .iter()
                .map(|a| self.fill(a, addr).to_string_lossy().into_owned()),
        );
        words.join(" ")
    }

    /// The command line as written, placeholders kept, for messages.
    pub(crate) fn template(&self) -> String {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    }

    /// The arguments for a server listening on `addr`: `{addr}`, `{host}` and `{port}`
    /// replaced (on a Unix socket, `{addr}` and `{path}`).
    fn args(&self, addr: &Endpoint) -> Vec<OsString> {
        self.args.iter().map(|a| self.fill(a, addr)).collect()
    }

    /// A placeholder of the other kind of address, which cannot be filled in: `{host}` or
    /// `{port}` for a Unix socket, `{path}` for TCP. What to do instead, if so.
    pub(crate) fn misplaced(&self, addr: &Endpoint) -> Option<String> {
        let (wrong, instead) = match addr {
            Endpoint::Tcp(_) => (
                &["{path}"][..],
                "{path} is a Unix socket's path: give a unix: address (--unix PATH), or use {addr}, {host} and {port}",
            ),
            Endpoint::Unix(_) => (
                &["{host}", "{port}"][..],
                "the server listens on a Unix socket: give it {path} (or {addr}, the same path), not {host} or {port}",
            ),
        };
        let used = self
            .args
            .iter()
            .filter_map(|a| a.to_str())
            .any(|a| wrong.iter().any(|w| a.contains(w)));
        used.then(|| format!("`{}`: {instead}", self.template()))
    }

    /// The server's whole environment: this process's, with the command's changes, and
    /// `STUTTERFUZZ_ADDR` set, and `STUTTERFUZZ_PORT` (TCP) or `STUTTERFUZZ_PATH` (a Unix
    /// socket).
    fn environment(&self, addr: &Endpoint) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let mut set = |key: &OsStr, value: Option<&OsStr>| {
            env.retain(|(k, _)| k != key);
            if let Some(value) = value {
                env.push((key.to_owned(), value.to_owned()));
            }
        };
        for (key, value) in &self.envs {
            set(key, value.as_deref());
        }
        for (_, env, path) in &self.files {
            set(OsStr::new(env), Some(path.as_os_str()));
        }
        match addr {
            Endpoint::Tcp(tcp) => {
                set(
                    OsStr::new("STUTTERFUZZ_ADDR"),
                    Some(OsStr::new(&tcp.to_string())),
                );
                set(
                    OsStr::new("STUTTERFUZZ_PORT"),
                    Some(OsStr::new(&tcp.port().to_string())),
                );
            }
            Endpoint::Unix(path) => {
                set(OsStr::new("STUTTERFUZZ_ADDR"), Some(path.as_os_str()));
                set(OsStr::new("STUTTERFUZZ_PATH"), Some(path.as_os_str()));
            }
        }
        env
    }

    /// What the supervisor executes for this server listening on `addr`.
    pub(crate) fn exec(&self, addr: &Endpoint) -> std::io::Result<Exec> {
        Exec::new(
            &self.program,
            &self.args(addr),
            &self.environment(addr),
            self.current_dir.as_deref(),
        )
    }
}

/// Replaces the placeholders in one argument; arguments that are not UTF-8 pass unchanged.
fn substitute(arg: &OsStr, addr: &Endpoint) -> OsString {
    match (arg.to_str(), addr) {
        (Some(text), Endpoint::Tcp(addr)) if text.contains('{') => text
            .replace("{addr}", &addr.to_string())
            .replace("{host}", &addr.ip().to_string())
            .replace("{port}", &addr.port().to_string())
            .into(),
        (Some(text), Endpoint::Unix(path)) if text.contains('{') => {
            let path = path.to_string_lossy();
            text.replace("{addr}", &path)
                .replace("{path}", &path)
                .into()
        }
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
        cmd.env_remove("HOME");
        let spec = ProgramSpec::from_command(&cmd);
        let addr = Endpoint::Tcp("[::1]:6789".parse().unwrap());
        let args = spec.args(&addr);
        assert_eq!(args, ["--listen", "[::1]:6789", "-h", "::1", "-p=6789"]);
        let envs = spec.environment(&addr);
        let has = |k: &str, v: &str| envs.contains(&(k.into(), v.into()));
        assert!(has("KEEP", "1"));
        assert!(has("STUTTERFUZZ_ADDR", "[::1]:6789"));
        assert!(has("STUTTERFUZZ_PORT", "6789"));
        assert!(!envs.iter().any(|(k, _)| k == "HOME"), "removed");
        assert_eq!(
            spec.display(&addr),
            "srv --listen [::1]:6789 -h ::1 -p=6789"
        );
        assert_eq!(spec.misplaced(&addr), None);
    }

    #[test]
    fn a_file_the_harness_made_fills_its_placeholder_and_variable() {
        let mut cmd = Command::new("client");
        cmd.args(["--ca", "{cert}", "{addr}"]);
        let spec = ProgramSpec::from_command(&cmd).with_file(
            "{cert}",
            "STUTTERFUZZ_CERT",
            std::path::Path::new("/tmp/run/cert.pem"),
        );
        assert!(spec.uses("{cert}"));
        let addr = Endpoint::Tcp("127.0.0.1:7".parse().unwrap());
        assert_eq!(
            spec.args(&addr),
            ["--ca", "/tmp/run/cert.pem", "127.0.0.1:7"]
        );
        let envs = spec.environment(&addr);
        assert!(envs.contains(&("STUTTERFUZZ_CERT".into(), "/tmp/run/cert.pem".into())));
        assert_eq!(spec.template(), "client --ca {cert} {addr}");
    }

    #[test]
    fn a_unix_socket_fills_path_and_addr_and_refuses_host_and_port() {
        let mut cmd = Command::new("srv");
        cmd.args(["--unixsocket", "{path}", "--also", "{addr}"]);
        let spec = ProgramSpec::from_command(&cmd);
        let addr = Endpoint::Unix("/tmp/x/s.sock".into());
        assert_eq!(
            spec.args(&addr),
            ["--unixsocket", "/tmp/x/s.sock", "--also", "/tmp/x/s.sock"]
        );
        let envs = spec.environment(&addr);
        assert!(envs.contains(&("STUTTERFUZZ_PATH".into(), "/tmp/x/s.sock".into())));
        assert_eq!(spec.misplaced(&addr), None);
        assert!(
            spec.misplaced(&Endpoint::Tcp("127.0.0.1:1".parse().unwrap()))
                .is_some()
        );
        let mut tcp = Command::new("srv");
        tcp.args(["--port", "{port}"]);
        let message = ProgramSpec::from_command(&tcp).misplaced(&addr).unwrap();
        assert!(message.contains("give it {path}"), "{message}");
    }
}

//! The server's supervisor: a small process between the harness and the server that owns
//! every process the server starts, so that none outlives the run.
//!
//! A server that daemonizes (forks, calls `setsid`, forks again) leaves its process group,
//! so signalling the group cannot reach it. The supervisor is a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`, Linux): every orphan among the server's descendants is
//! re-parented to it instead of to init, and it reaps them. When the harness closes the
//! control pipe — on purpose at the end of a run, or because the harness died, even by
//! SIGKILL, since the kernel closes a dead process's pipes — the supervisor kills its
//! children (`/proc/<pid>/task/<pid>/children`), whose own children then become its children,
//! until none is left, and exits. The server's exact wait status reaches the harness through
//! a status pipe.
//!
//! The supervisor is a fork of the harness that never calls `exec`: it runs only
//! async-signal-safe system calls, on memory prepared before the fork. Where
//! `PR_SET_CHILD_SUBREAPER` and the `children` file are missing (other Unix systems), it
//! still reports the server's status and kills the server's process group at the end, but
//! daemons that left the group escape it.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use tokio::net::unix::pipe::Receiver;

mod child;

use child::{ChildFds, Prepared, supervise};

/// What to execute, prepared before the fork (no allocation happens after it).
pub(crate) struct Exec {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

impl Exec {
    /// `program` (looked up on `PATH` when it has no `/`) with `args`, in environment `env`
    /// (complete), in directory `cwd`.
    pub(crate) fn new(
        program: &OsStr,
        args: &[OsString],
        env: &[(OsString, OsString)],
        cwd: Option<&Path>,
    ) -> io::Result<Exec> {
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let resolved = resolve(program, path_var.as_deref(), cwd)?;
        let c = |s: &[u8]| {
            CString::new(s).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the command")
            })
        };
        let mut argv = vec![c(program.as_bytes())?];
        for arg in args {
            argv.push(c(arg.as_bytes())?);
        }
        let envp = env
            .iter()
            .map(|(k, v)| c(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect::<io::Result<Vec<_>>>()?;
        let cwd = cwd.map(|d| c(d.as_os_str().as_bytes())).transpose()?;
        Ok(Exec {
            program: c(resolved.as_os_str().as_bytes())?,
            argv,
            envp,
            cwd,
        })
    }
}

/// Finds `program` as the shell would: a name without `/` on `PATH`.
fn resolve(program: &OsStr, path: Option<&OsStr>, cwd: Option<&Path>) -> io::Result<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let path = path.map_or_else(|| std::env::var_os("PATH").unwrap_or_default(), Into::into);
    for dir in std::env::split_paths(&path) {
        let dir = match (dir.is_relative(), cwd) {
            (true, Some(cwd)) => cwd.join(dir),
            _ => dir,
        };
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(io::Error::from(io::ErrorKind::NotFound))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running supervisor and its server.
pub(crate) struct Supervisor {
    pid: libc::pid_t,
    server: u32,
    /// Closing it tells the supervisor to kill everything and exit.
    control: Option<OwnedFd>,
    status: Receiver,
    exit: Option<ExitStatus>,
}

/// A freshly started server: its supervisor and the read ends of its output.
pub(crate) struct Spawned {
    pub(crate) supervisor: Supervisor,
    pub(crate) stdout: Receiver,
    pub(crate) stderr: Receiver,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts the supervisor, which starts the server (`exec`) in a process group of its own,
/// its stdin `/dev/null`, its stdout and stderr piped to the harness. Needs a tokio runtime.
pub(crate) async fn spawn_supervised(exec: &Exec) -> io::Result<Spawned> {
    let (control_r, control_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let fds = ChildFds {
        control: control_r.as_raw_fd(),
        status: status_w.as_raw_fd(),
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
    };
    let pid = fork_supervisor(exec, fds)?;
    drop((control_r, status_w, out_w, err_w));
    let mut supervisor = Supervisor {
        pid,
        server: 0,
        control: Some(control_w),
        status: Receiver::from_owned_fd(status_r)?,
        exit: None,
    };
    let mut hello = [0u8; 8];
    read_message(&mut supervisor.status, &mut hello).await?;
    let server = i32::from_ne_bytes([hello[0], hello[1], hello[2], hello[3]]);
    let errno = i32::from_ne_bytes([hello[4], hello[5], hello[6], hello[7]]);
    supervisor.server = u32::try_from(server).unwrap_or(0);
    if errno != 0 {
        supervisor.finish().await;
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(Spawned {
        supervisor,
        stdout: Receiver::from_owned_fd(out_r)?,
        stderr: Receiver::from_owned_fd(err_r)?,
    })
}

/// Forks the supervisor; returns its process id.
fn fork_supervisor(exec: &Exec, fds: ChildFds) -> io::Result<libc::pid_t> {
    let argv: Vec<*const libc::c_char> = exec
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = exec
        .envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let prepared = Prepared {
        program: exec.program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: exec.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        children_path: [0; 64],
    };
    // SAFETY: the child runs `supervise`, which only makes async-signal-safe system calls
    // on memory prepared above (still valid in the child: fork copies it), and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; we are the freshly forked child.
        unsafe { supervise(prepared, fds) }
    }
    Ok(pid)
}

/// Reads one message of `buf.len()` bytes (written in one `write`, so it arrives whole).
async fn read_message(status: &mut Receiver, buf: &mut [u8]) -> io::Result<()> {
    loop {
        status.readable().await?;
        match status.try_read(buf) {
            Ok(n) if n == buf.len() => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

impl Supervisor {
    /// The server's process id (also its process group id).
    pub(crate) fn server_pid(&self) -> u32 {
        self.server
    }

    /// How the server ended, if it has (without waiting).
    pub(crate) fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            let mut buf = [0u8; 4];
            if let Ok(4) = self.status.try_read(&mut buf) {
                self.exit = Some(ExitStatus::from_raw(i32::from_ne_bytes(buf)));
            }
        }
        self.exit
    }

    /// Resolves when the server ends. Cancel-safe; never resolves if the supervisor is gone.
    pub(crate) async fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let mut buf = [0u8; 4];
        match read_message(&mut self.status, &mut buf).await {
            Ok(()) => {
                let status = ExitStatus::from_raw(i32::from_ne_bytes(buf));
                self.exit = Some(status);
                status
            }
            Err(_) => std::future::pending().await,
        }
    }

    /// Ends the supervisor: it kills every process the server left (whatever group or
    /// session it is in) and exits; resolves once it has, so none is left.
    pub(crate) async fn finish(&mut self) {
        if self.control.take().is_none() {
            return;
        }
        let pid = self.pid;
        let _ = tokio::task::spawn_blocking(move || reap(pid)).await;
    }
}

impl Drop for Supervisor {
    /// The last line of defence: closing the control pipe makes the supervisor kill every
    /// descendant; a thread of its own reaps it, since `drop` may not wait.
    fn drop(&mut self) {
        if self.control.take().is_some() {
            let pid = self.pid;
            let _ = std::thread::Builder::new()
                .name("stutterfuzz-reaper".to_owned())
                .spawn(move || reap(pid));
        }
    }
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_path_or_reported_missing() {
        let found = resolve(OsStr::new("sh"), None, None).unwrap();
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
        let missing = resolve(OsStr::new("no-such-server-anywhere"), None, None).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let as_given = resolve(OsStr::new("./bin/server"), None, None).unwrap();
        assert_eq!(as_given, PathBuf::from("./bin/server"));
    }
}

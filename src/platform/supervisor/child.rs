//! The supervisor's side of the fork: the code that runs in the forked child, and in the
//! server's process between its fork and its `exec`. Only async-signal-safe system calls,
//! on stack memory or memory the harness prepared before the fork; nothing here allocates,
//! and nothing returns.

use std::io;
use std::os::fd::RawFd;

/// The descriptors the supervisor keeps.
#[derive(Clone, Copy)]
pub(super) struct ChildFds {
    pub(super) control: RawFd,
    pub(super) status: RawFd,
    pub(super) stdout: RawFd,
    pub(super) stderr: RawFd,
}

/// Pointers into memory the harness prepared before the fork.
pub(super) struct Prepared {
    pub(super) program: *const libc::c_char,
    pub(super) argv: *const *const libc::c_char,
    pub(super) envp: *const *const libc::c_char,
    pub(super) cwd: *const libc::c_char,
    /// Room for `/proc/<pid>/task/<pid>/children`.
    pub(super) children_path: [u8; 64],
}

/// Signals the supervisor ignores (it ends only when told to, or when the harness is gone),
/// and that the server gets back at their defaults.
const SHIELDED: [libc::c_int; 5] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGPIPE,
];

/// The supervisor's whole life. Only async-signal-safe system calls; never returns.
///
/// # Safety
/// To be called only in a child just forked from the harness, with `prepared` pointing to
/// memory that was valid at the fork.
pub(super) unsafe fn supervise(mut prepared: Prepared, fds: ChildFds) -> ! {
    // SAFETY (whole body): plain system calls on descriptors we hold and on stack memory or
    // memory prepared before the fork.
    unsafe {
        for signal in SHIELDED {
            libc::signal(signal, libc::SIG_IGN);
        }
        // A child's exit interrupts the wait in `watch` at once (SIGCHLD is blocked except
        // while waiting there), so the server's status reaches the harness without delay.
        let mut chld: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut chld);
        libc::sigaddset(&mut chld, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &chld, std::ptr::null_mut());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_child as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_NOCLDSTOP;
        libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut());
        #[cfg(all(target_os = "linux", not(feature = "portable")))]
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        close_others(&[fds.control, fds.status, fds.stdout, fds.stderr]);
        let mut exec_err = [0 as RawFd; 2];
        if libc::pipe2(exec_err.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            libc::_exit(1);
        }
        let server = libc::fork();
        if server == 0 {
            start_server(&prepared, fds, exec_err[1]);
        }
        libc::close(exec_err[1]);
        libc::close(fds.stdout);
        libc::close(fds.stderr);
        let mut errno = 0i32;
        if server < 0 {
            errno = last_errno();
        } else {
            let mut buf = [0u8; 4];
            if libc::read(exec_err[0], buf.as_mut_ptr().cast(), 4) == 4 {
                errno = i32::from_ne_bytes(buf);
            }
        }
        libc::close(exec_err[0]);
        let mut hello = [0u8; 8];
        hello[..4].copy_from_slice(&server.to_ne_bytes());
        hello[4..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(fds.status, hello.as_ptr().cast(), 8);
        let mut reported = false;
        if errno == 0 {
            watch(server, fds, &mut reported);
        }
        kill_all(server, fds, &mut reported, &mut prepared.children_path);
        libc::_exit(0)
    }
}

/// In the server's process, between fork and exec.
unsafe fn start_server(prepared: &Prepared, fds: ChildFds, exec_err: RawFd) -> ! {
    // SAFETY (whole body): async-signal-safe system calls on prepared memory.
    unsafe {
        libc::setpgid(0, 0);
        for signal in SHIELDED {
            libc::signal(signal, libc::SIG_DFL);
        }
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        // Each source is first moved above 2, so that none is overwritten by another's
        // `dup2` (a harness started with a standard stream closed has pipes among 0-2), and
        // `dup2` to a different number leaves the target without close-on-exec.
        let high = |fd: RawFd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        let (null, out, err) = (high(null), high(fds.stdout), high(fds.stderr));
        if null >= 0 {
            libc::dup2(null, 0);
        }
        libc::dup2(out, 1);
        libc::dup2(err, 2);
        if prepared.cwd.is_null() || libc::chdir(prepared.cwd) == 0 {
            libc::execve(prepared.program, prepared.argv, prepared.envp);
        }
        let errno = last_errno().to_ne_bytes();
        libc::write(exec_err, errno.as_ptr().cast(), 4);
        libc::_exit(127)
    }
}

/// Does nothing: its only effect is to interrupt the wait in [`watch`].
extern "C" fn on_child(_: libc::c_int) {}

/// Reaps children until told to stop (a byte or the end of the control pipe); reports the
/// server's wait status once.
unsafe fn watch(server: libc::pid_t, fds: ChildFds, reported: &mut bool) {
    // SAFETY (whole body): async-signal-safe system calls on our own descriptors and stack.
    unsafe {
        let mut open: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut open);
        let limit = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        loop {
            reap_exited(server, fds, reported);
            let mut poll = libc::pollfd {
                fd: fds.control,
                events: libc::POLLIN,
                revents: 0,
            };
            // SIGCHLD is let through only here: a child that exits interrupts the wait.
            let ready = libc::ppoll(&mut poll, 1, &limit, &open);
            if ready > 0 && poll.revents != 0 {
                return;
            }
        }
    }
}

/// Reaps every child that has exited, without waiting; reports the server's status.
unsafe fn reap_exited(server: libc::pid_t, fds: ChildFds, reported: &mut bool) {
    // SAFETY (whole body): waitpid and write on our own descriptor.
    unsafe {
        loop {
            let mut status = 0;
            let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
            if pid <= 0 {
                return;
            }
            if pid == server && !*reported {
                *reported = true;
                let bytes = status.to_ne_bytes();
                libc::write(fds.status, bytes.as_ptr().cast(), 4);
            }
        }
    }
}

/// Kills the server's group, then every child (re-parented orphans included) until none
/// is left. Bounded: a process tree that keeps forking faster than it is killed still ends
/// here after many rounds.
unsafe fn kill_all(server: libc::pid_t, fds: ChildFds, reported: &mut bool, path: &mut [u8; 64]) {
    // SAFETY (whole body): async-signal-safe system calls on stack memory.
    unsafe {
        if server > 0 {
            libc::kill(-server, libc::SIGKILL);
        }
        let own = libc::getpid();
        children_path(own, path);
        for _ in 0..10_000 {
            let mut buf = [0u8; 4096];
            let mut any = false;
            let file = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
            if file >= 0 {
                let n = libc::read(file, buf.as_mut_ptr().cast(), buf.len());
                libc::close(file);
                let n = usize::try_from(n).unwrap_or(0).min(buf.len());
                let mut pid: libc::pid_t = 0;
                for &b in &buf[..n] {
                    if b.is_ascii_digit() {
                        pid = pid
                            .saturating_mul(10)
                            .saturating_add(libc::pid_t::from(b - b'0'));
                    } else if pid > 0 {
                        libc::kill(pid, libc::SIGKILL);
                        any = true;
                        pid = 0;
                    }
                }
                if pid > 0 {
                    libc::kill(pid, libc::SIGKILL);
                    any = true;
                }
            }
            reap_exited(server, fds, reported);
            let mut status = 0;
            let waited = libc::waitpid(-1, &mut status, libc::WNOHANG);
            if waited < 0 && last_errno() == libc::ECHILD && !any {
                return;
            }
            if waited == server && !*reported {
                *reported = true;
                let bytes = status.to_ne_bytes();
                libc::write(fds.status, bytes.as_ptr().cast(), 4);
            }
            if waited <= 0 {
                let pause = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 1_000_000,
                };
                libc::nanosleep(&pause, std::ptr::null_mut());
            }
        }
    }
}

/// The calling thread's `errno` (no allocation: an OS error is stored inline).
fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Writes `/proc/<pid>/task/<pid>/children` (NUL-terminated) into `path`.
fn children_path(pid: libc::pid_t, path: &mut [u8; 64]) {
    let mut digits = [0u8; 12];
    let mut n = 0;
    let mut value = pid.unsigned_abs();
    loop {
        digits[n] = b'0' + (value % 10) as u8;
        n += 1;
        value /= 10;
        if value == 0 || n == digits.len() {
            break;
        }
    }
    let mut at = 0;
    let mut push = |bytes: &[u8], at: &mut usize| {
        for &b in bytes {
            if *at < path.len() - 1 {
                path[*at] = b;
                *at += 1;
            }
        }
    };
    let mut number = [0u8; 12];
    for i in 0..n {
        number[i] = digits[n - 1 - i];
    }
    push(b"/proc/", &mut at);
    push(&number[..n], &mut at);
    push(b"/task/", &mut at);
    push(&number[..n], &mut at);
    push(b"/children", &mut at);
    path[at] = 0;
}

/// Closes every descriptor from 3 up, except `keep`.
unsafe fn close_others(keep: &[RawFd]) {
    let mut sorted = [0 as RawFd; 4];
    for (slot, fd) in sorted.iter_mut().zip(keep) {
        *slot = *fd;
    }
    sorted.sort_unstable();
    let mut from: u32 = 3;
    // SAFETY: close_range on descriptors this process owns after the fork.
    unsafe {
        for &fd in &sorted {
            let fd = u32::try_from(fd).unwrap_or(0);
            if fd > from {
                close_range(from, fd - 1);
            }
            from = from.max(fd + 1);
        }
        close_range(from, u32::MAX);
    }
}

#[cfg(all(target_os = "linux", not(feature = "portable")))]
unsafe fn close_range(first: u32, last: u32) {
    // SAFETY: a plain system call.
    unsafe {
        libc::syscall(libc::SYS_close_range, first, last, 0);
    }
}

#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
unsafe fn close_range(first: u32, last: u32) {
    // SAFETY: close(2) on descriptors this process owns.
    unsafe {
        for fd in first..=last.min(4096) {
            libc::close(fd as RawFd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_children_file_is_named_for_the_process() {
        let mut path = [0u8; 64];
        children_path(4071, &mut path);
        let end = path.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&path[..end], b"/proc/4071/task/4071/children");
    }
}

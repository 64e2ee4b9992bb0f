//! The one seam between the harness and the operating system, beyond what std and tokio
//! give: the rest of the crate makes no `libc` or `nix` call of its own.
//!
//! | what                                   | Linux                                | other Unix (fallback)                 |
//! |----------------------------------------|--------------------------------------|---------------------------------------|
//! | the server's unread bytes (pacing)     | `sock_diag` (inet_diag) receive queue | not visible: ACK + fixed pause        |
//! | our unacknowledged bytes (pacing)      | `SIOCOUTQ`                           | not visible: the fixed pause alone    |
//! | a Unix socket's bytes the server has not read (pacing) | `SIOCOUTQ`            | not visible: the fixed pause alone    |
//! | TCP fast open on connect               | `TCP_FASTOPEN_CONNECT`               | an ordinary connect                   |
//! | a slow reader's socket                 | small `SO_RCVBUF` and `TCP_MAXSEG`   | small `SO_RCVBUF` only                |
//! | the server's send buffer full (slow reads) | `sock_diag` SKMEMINFO            | not visible                           |
//! | every process the server starts ends with the run | a supervisor that is a child subreaper, killing every descendant, also when the harness is killed | the supervisor kills the server's process group |
//! | stopping the server                    | process-group SIGTERM, then SIGKILL  | the same                              |
//! | the open-file limit                    | `getrlimit` / `setrlimit`            | the same                              |
//!
//! The `portable` feature builds the other-Unix column on Linux too, so that what a macOS or
//! BSD user gets is tested here: `scripts/portable-check` runs the tests that hold there.

#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
mod fallback;
#[cfg(all(target_os = "linux", not(feature = "portable")))]
mod linux;
#[cfg(all(target_os = "linux", not(feature = "portable")))]
mod sock_diag;
mod supervisor;
mod unix;

#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
pub(crate) use fallback::{
    SEES_OWN_QUEUE, ServerEnd, ServerQueue, enable_fastopen, make_slow_reader, unacknowledged,
};
#[cfg(all(target_os = "linux", not(feature = "portable")))]
pub(crate) use linux::{SEES_OWN_QUEUE, enable_fastopen, make_slow_reader, unacknowledged};
#[cfg(all(target_os = "linux", not(feature = "portable")))]
pub(crate) use sock_diag::{ServerEnd, ServerQueue};
pub(crate) use supervisor::{Exec, Supervisor, spawn_supervised};
pub(crate) use unix::{
    is_local_exhaustion, is_out_of_local_ports, kill_group, open_file_limits,
    raise_open_file_limit, signal_name, terminate_group,
};

//! The server under test as a child process: spawned in its own process group, its output
//! drained concurrently into bounded buffers, watched while it starts, and stopped (SIGTERM,
//! a grace period, SIGKILL to the whole group) when the run ends.
//!
//! The builder keeps a [`ServerSpec`] (plain data), never a live handle, so a run can be
//! repeated: replay and shrinking spawn the same server again.

mod output;
mod process;
mod spec;
mod valgrind;

pub(crate) use output::OutputSnapshot;
pub(crate) use process::{ServerEvent, ServerProcess, describe_exit};
pub(crate) use spec::ServerSpec;
pub use valgrind::{VALGRIND_FLAGS, valgrind};

//! The defaults of a run, in one place: the builders' (`Stutter`, `StutterClient`, their
//! option types) and the command line's come from here (the command line's are checked
//! against these by a test), so a changed default changes everywhere at once.

use std::time::Duration;

/// Connections in flight at once (`.connections(n)`, `--num-conns`).
pub const CONNECTIONS: usize = 100;
/// The gap between two chunks where the server's reads cannot be watched (`--pause-ms`).
pub const GAP: Duration = Duration::from_millis(2);
/// A delivery closes early with chance 1 in this (`--close-chance`).
pub const CLOSE_CHANCE: u32 = 500;
/// A first chunk goes with TCP fast open with chance 1 in this (`--fastopen-chance`).
pub const FASTOPEN_CHANCE: u32 = 2;
/// A delivery stalls mid-message with chance 1 in this (`--stall-chance`).
pub const STALL_CHANCE: u32 = 1000;
/// A delivery reads its answer slowly with chance 1 in this (`--slow-read-chance`).
pub const SLOW_READ_CHANCE: u32 = 100;
/// How long a stall lasts (`--stall-ms`).
pub const STALL_TIME: Duration = Duration::from_secs(1);
/// How long a started server may take to accept connections (`--startup-timeout`).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connect may take before the server is checked alone.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server gets to exit after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Tries of a client under test side by side (`StutterClient::connections`, `--parallel`).
pub const CLIENT_CONNECTIONS: usize = 4;
/// How long one run of a client under test may take before it counts as hung
/// (`Timeouts::client`, `stutterfuzz client --timeout`).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long narrowing a client's finding may take (`Shrinking::time` for a client).
pub const CLIENT_SHRINK_TIME: Duration = Duration::from_secs(20);

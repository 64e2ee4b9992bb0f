//! The builder's option types: settings that belong together travel together, so
//! [`Stutter`](crate::Stutter) keeps one setter per concern. Each type starts from the
//! defaults (`Default`), and its setters change one value and keep the rest.

use std::time::Duration;

/// How often a delivery gets something: one delivery in `n`.
///
/// ```
/// use stutterfuzz::Chance;
///
/// assert_eq!(Chance::one_in(100).to_string(), "1 in 100");
/// assert_eq!(Chance::NEVER, Chance::one_in(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chance(u32);

impl Chance {
    /// No delivery.
    pub const NEVER: Chance = Chance(0);
    /// Every delivery.
    pub const ALWAYS: Chance = Chance(1);

    /// One delivery in `n` (0: never; 1: every one).
    pub const fn one_in(n: u32) -> Self {
        Chance(n)
    }

    /// The `n` of "1 in `n`" (0 for never).
    pub const fn n(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for Chance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("never"),
            n => write!(f, "1 in {n}"),
        }
    }
}

/// What the harness does to some deliveries besides cutting them: close early, open with TCP
/// fast open, stall (pause mid-message) while a probe checks the server still serves others,
/// read the response slowly. Defaults: close 1 in 500 and fast open 1 in 2 (the original
/// tool's), stall 1 in 1000 for 1 s, slow reader 1 in 100.
///
/// ```
/// use std::time::Duration;
/// use stutterfuzz::{Chance, Disruptions, Stutter};
///
/// let fuzz = Stutter::new("127.0.0.1:6789").disruptions(
///     Disruptions::default()
///         .stall(Chance::one_in(10))
///         .stall_time(Duration::from_millis(500))
///         .slow_read(Chance::NEVER),
/// );
/// # let _ = fuzz;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disruptions {
    pub(crate) close: Chance,
    pub(crate) fastopen: Chance,
    pub(crate) stall: Chance,
    pub(crate) stall_time: Duration,
    pub(crate) slow_read: Chance,
}

impl Default for Disruptions {
    /// The run's defaults, as `config` keeps them.
    fn default() -> Self {
        let requested = crate::config::Requested::default();
        Disruptions {
            close: Chance(requested.chances.close),
            fastopen: Chance(requested.chances.fastopen),
            stall: Chance(requested.chances.stall),
            stall_time: requested.stall_time,
            slow_read: Chance(requested.chances.slow),
        }
    }
}

impl Disruptions {
    /// None of them: every delivery is only cut (one connection each, read at full speed).
    pub fn none() -> Self {
        Disruptions {
            close: Chance::NEVER,
            fastopen: Chance::NEVER,
            stall: Chance::NEVER,
            slow_read: Chance::NEVER,
            ..Disruptions::default()
        }
    }

    /// Closes a connection early, before any chunk.
    pub fn close(mut self, chance: Chance) -> Self {
        self.close = chance;
        self
    }

    /// Sends the first chunk with TCP fast open (in the SYN, where the kernel allows it).
    pub fn fastopen(mut self, chance: Chance) -> Self {
        self.fastopen = chance;
        self
    }

    /// Stalls a connection: pauses it mid-message (a few bytes into one of its blob's
    /// records) for [`stall_time`](Self::stall_time), while a probe connection checks that the server still accepts, reads and
    /// answers other clients within three quarters of it. A server that serves nobody else
    /// meanwhile (a blocking read to finish a partial message, a lock held across reads) is
    /// a finding.
    pub fn stall(mut self, chance: Chance) -> Self {
        self.stall = chance;
        self
    }

    /// How long a stall (a pause mid-message) lasts.
    pub fn stall_time(mut self, time: Duration) -> Self {
        self.stall_time = time;
        self
    }

    #[doc(hidden)]
    #[deprecated(
        since = "0.2.0",
        note = "renamed `stall`: a pause mid-message is a stall"
    )]
    pub fn pause(self, chance: Chance) -> Self {
        self.stall(chance)
    }

    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "renamed `stall_time`")]
    pub fn pause_time(self, time: Duration) -> Self {
        self.stall_time(time)
    }

    /// Reads a response slowly: a small receive buffer and the smallest segment size, then
    /// the response in small pieces with pauses ([`SlowRead`](crate::SlowRead)), so the
    /// server's `write()` comes up short at varying points. A truncated or garbled answer is
    /// a finding with [`AnswerOracle::same`](crate::AnswerOracle::same).
    pub fn slow_read(mut self, chance: Chance) -> Self {
        self.slow_read = chance;
        self
    }
}

/// How each connection waits between two chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pacing {
    /// For a server on this machine, the next chunk goes as soon as the server has read the
    /// previous one (its receive queue, asked of the kernel through sock_diag, is empty):
    /// every boundary kept without a fixed pause. Where that queue cannot be seen (a server
    /// on another machine), the ACK and then `fallback`. The default, with 2 ms.
    Adaptive {
        /// The pause after the ACK where the server's queue cannot be seen.
        fallback: Duration,
    },
    /// Always the ACK and then this pause, never the server's queue.
    AfterAck(Duration),
    /// The original tool's `--cycle-ms`: a fixed cycle shared by all connections, each
    /// sending at most one chunk per cycle, after its previous chunk is acknowledged.
    Cycle(Duration),
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing::Adaptive {
            fallback: crate::config::Requested::default().gap,
        }
    }
}

/// How long narrowing may take: the culprit search and shrinking together. Defaults: 30 s,
/// 500 deliveries, each candidate tried 3 times. `STUTTERFUZZ_SHRINK_TIME` overrides the
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shrinking {
    pub(crate) time: Duration,
    pub(crate) attempts: u32,
    pub(crate) tries: u32,
}

impl Default for Shrinking {
    /// The run's defaults, as `config` keeps them.
    fn default() -> Self {
        let budget = crate::config::Budget::default();
        Shrinking {
            time: budget.time,
            attempts: budget.attempts,
            tries: budget.tries,
        }
    }
}

impl Shrinking {
    /// No narrowing: the report names the suspects as they were found.
    pub fn off() -> Self {
        Shrinking::default().time(Duration::ZERO)
    }

    /// Wall-clock time for the culprit search and shrinking together (zero: off).
    pub fn time(mut self, limit: Duration) -> Self {
        self.time = limit;
        self
    }

    /// Deliveries in all.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// How many times each candidate is tried before it counts as passing (a bug that shows
    /// only sometimes), and how many times the minimal case is replayed for the report's
    /// "reproduced k/n". At least 1.
    pub fn tries(mut self, tries: u32) -> Self {
        self.tries = tries.max(1);
        self
    }
}

/// How long the harness waits for the server. Defaults: it accepts connections within 10 s
/// of starting; a connect completes within 5 s (one that does not, beside other deliveries,
/// holds the run until the server is seen to accept a connection alone, within the startup
/// time: then the run goes on with half as many connections, else the server stopped
/// accepting); it exits within 2 s of SIGTERM, before its process group gets SIGKILL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub(crate) startup: Duration,
    pub(crate) connect: Duration,
    pub(crate) stop: Duration,
    pub(crate) client: Duration,
}

impl Default for Timeouts {
    /// The run's defaults, as `config` keeps them.
    fn default() -> Self {
        let requested = crate::config::Requested::default();
        Timeouts {
            startup: requested.startup_timeout,
            connect: requested.connect_timeout,
            stop: requested.stop_grace,
            client: crate::config::defaults::CLIENT_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// How long the started server may take to accept connections (give a server under
    /// valgrind more), at its start and when it is checked alone after slow connects.
    pub fn startup(mut self, limit: Duration) -> Self {
        self.startup = limit;
        self
    }

    /// How long a connect may take before the server is checked alone: slow under the
    /// run's load (fewer connections), or no longer accepting (a finding).
    pub fn connect(mut self, limit: Duration) -> Self {
        self.connect = limit;
        self
    }

    /// How long the server gets to exit after SIGTERM.
    pub fn stop(mut self, grace: Duration) -> Self {
        self.stop = grace;
        self
    }

    /// For [`StutterClient`](crate::StutterClient): how long one run of the client under
    /// test may take before it counts as hung (default 5 s). A server run ignores it.
    pub fn client(mut self, limit: Duration) -> Self {
        self.client = limit;
        self
    }
}

/// Which lines of a started server's output are findings. By default a line containing
/// a sanitizer report (`AddressSanitizer`, `runtime error:` …), a Rust task panic (`panicked
/// at`) or a valgrind error is one.
///
/// ```
/// use stutterfuzz::{OutputRules, Stutter};
///
/// let fuzz = Stutter::new("127.0.0.1:6789")
///     .output(OutputRules::default().fail_on("FATAL").ignore("expected panic"));
/// # let _ = fuzz;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputRules(pub(crate) Option<crate::config::OutputWatch>);

impl Default for OutputRules {
    fn default() -> Self {
        OutputRules(Some(crate::config::OutputWatch::default()))
    }
}

impl OutputRules {
    /// No line is a finding.
    pub fn off() -> Self {
        OutputRules(None)
    }

    /// A line containing `pattern` is a finding too.
    pub fn fail_on(mut self, pattern: impl Into<String>) -> Self {
        self.0
            .get_or_insert_with(Default::default)
            .fail_on
            .push(pattern.into());
        self
    }

    /// A line containing `pattern` is never a finding (it wins over every other pattern).
    pub fn ignore(mut self, pattern: impl Into<String>) -> Self {
        self.0
            .get_or_insert_with(Default::default)
            .ignore
            .push(pattern.into());
        self
    }
}

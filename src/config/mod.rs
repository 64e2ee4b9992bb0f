//! Resolved settings: the builder's values, checked, with the `STUTTERFUZZ_*` environment
//! laid over them. Pure functions of their inputs (the environment is passed in), so every
//! rule here is unit-tested without a process or a socket, except address resolution.
//!
//! | variable               | overrides              | example                 |
//! |------------------------|------------------------|-------------------------|
//! | `STUTTERFUZZ_SEED`     | `.seed(n)`             | `42`, `0x2a`            |
//! | `STUTTERFUZZ_DURATION` | `run_for(d)`'s `d`, and `.cycles(n)` | `30s`, `2m`, `1h 30m` |
//! | `STUTTERFUZZ_REPLAY`   | `.replay(case)`        | `v1:ping.txt:2,4`       |
//! | `STUTTERFUZZ_SHRINK_TIME` | `Shrinking::time`   | `10s`, `0s` (off)       |
//! | `STUTTERFUZZ_SHARD`    | `.shard(k, n)`         | `2/4`                   |
//!
//! A client run ([`StutterClient`](crate::StutterClient)) reads the same variables the same
//! way ([`Overrides`]), but for the shard, and takes a replayed case only if it is a client's
//! (`c1:`), as a server run takes only a server's.
//! A variable that is set but does not parse is an error naming it: never a silent default.
//! `STUTTERFUZZ_DURATION` makes the run last that long: the cycle count no longer ends it
//! first (a nightly job lengthens the same test the pull requests run).

use std::time::Duration;

use crate::case::{Case, Chances, Drawing};
use crate::error::{SetupError, SetupErrorKind};
use crate::rng::Seed;
use crate::split::SplitMode;

mod address;
pub mod defaults;
mod environment;
mod output_watch;
mod shard;

pub(crate) use address::{
    Endpoint, PortZero, check_socket_path, free_port, resolve_addr, resolve_endpoint,
};
pub(crate) use environment::{Direction, Overrides, env_var, in_ci};
pub(crate) use environment::{env_error, settings_error};
pub(crate) use output_watch::OutputWatch;
pub use shard::Shard;

/// What happens between an acknowledged chunk and the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Wait this long.
    Fixed(Duration),
    /// Wait for the next tick of a fixed cycle shared by all connections (the original
    /// tool's `--cycle-ms`): at most one chunk per connection per cycle.
    Cycle(Duration),
    /// Wait until the server has read everything sent so far; where its receive queue
    /// cannot be seen, pause this long instead.
    Adaptive(Duration),
}

/// Limits on narrowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Wall-clock time for the culprit search and shrinking together.
    pub(crate) time: Duration,
    /// Deliveries in all.
    pub(crate) attempts: u32,
    /// Deliveries per shrinking candidate, and for the final reproduction count.
    pub(crate) tries: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            time: Duration::from_secs(30),
            attempts: 500,
            tries: 3,
        }
    }
}

/// Settings as the builder holds them, before checking.
#[derive(Clone, Debug)]
pub(crate) struct Requested {
    pub(crate) seed: Option<Seed>,
    pub(crate) cycles: Option<u64>,
    pub(crate) connections: usize,
    pub(crate) gap: Duration,
    pub(crate) cycle: Option<Duration>,
    pub(crate) adaptive: bool,
    pub(crate) mode: SplitMode,
    pub(crate) chances: Chances,
    pub(crate) startup_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) stop_grace: Duration,
    pub(crate) replay: Option<String>,
    pub(crate) shrink: Budget,
    pub(crate) isolate_blobs: bool,
    pub(crate) stall_time: Duration,
    pub(crate) shard: Shard,
}

impl Default for Requested {
    fn default() -> Self {
        Requested {
            seed: None,
            cycles: None,
            connections: defaults::CONNECTIONS,
            gap: defaults::GAP,
            cycle: None,
            adaptive: true,
            mode: SplitMode::Mixed,
            chances: Chances {
                close: defaults::CLOSE_CHANCE,
                fastopen: defaults::FASTOPEN_CHANCE,
                stall: defaults::STALL_CHANCE,
                slow: defaults::SLOW_READ_CHANCE,
            },
            startup_timeout: defaults::STARTUP_TIMEOUT,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            stop_grace: defaults::STOP_GRACE,
            replay: None,
            shrink: Budget::default(),
            isolate_blobs: false,
            stall_time: defaults::STALL_TIME,
            shard: Shard::default(),
        }
    }
}

/// Checked settings for one run.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) seed: Seed,
    pub(crate) budget: Duration,
    pub(crate) cycles: Option<u64>,
    pub(crate) connections: usize,
    pub(crate) gap: Gap,
    pub(crate) mode: SplitMode,
    pub(crate) chances: Chances,
    pub(crate) startup_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) stop_grace: Duration,
    pub(crate) replay: Option<Case>,
    pub(crate) shrink: Budget,
    /// Never two deliveries of one blob at once.
    pub(crate) isolate_blobs: bool,
    /// How long a pause mid-message lasts.
    pub(crate) stall_time: Duration,
    /// Deliveries go over TLS (set by the run, which holds the TLS options).
    pub(crate) tls: bool,
    /// TLS starts only where a conversation marks it (`#~ tls`), as some blob of the run
    /// does: a blob without a mark stays plain (set by the run, which holds the blobs).
    pub(crate) tls_at_marks: bool,
    /// The longest a delivery waits after its last chunk, for the server's answer, close or
    /// exit, when no response oracle needs more; `None`: the engine's defaults. A fuzz
    /// target's is short: its server is in process (a panic is seen at once) and its speed
    /// is its inputs per second.
    pub(crate) after_last: Option<Duration>,
    /// Which share of the run's rounds this run delivers.
    pub(crate) shard: Shard,
}

impl Settings {
    /// Checks `requested` and lays the environment (`env(name)`) over it.
    pub(crate) fn resolve(
        requested: &Requested,
        budget: Duration,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SetupError> {
        let env = Overrides::read(
            Direction::Server,
            requested.seed,
            budget,
            requested.cycles,
            env,
        )?;
        let mut shrink = requested.shrink;
        shrink.time = env.shrink_time.unwrap_or(shrink.time);
        let replay = replay_of(requested, env.replay.as_deref())?;
        check_nonzero(requested)?;
        Ok(Settings {
            seed: env.seed,
            budget: env.budget,
            cycles: env.cycles,
            connections: requested.connections,
            gap: match (requested.cycle, requested.adaptive) {
                (Some(every), _) => Gap::Cycle(every),
                (None, true) => Gap::Adaptive(requested.gap),
                (None, false) => Gap::Fixed(requested.gap),
            },
            mode: requested.mode,
            chances: requested.chances,
            startup_timeout: requested.startup_timeout,
            connect_timeout: requested.connect_timeout,
            stop_grace: requested.stop_grace,
            replay,
            shrink,
            isolate_blobs: requested.isolate_blobs,
            stall_time: requested.stall_time,
            tls: false,
            tls_at_marks: false,
            after_last: None,
            shard: env.shard.unwrap_or(requested.shard),
        })
    }
}

/// The case to replay: `STUTTERFUZZ_REPLAY`'s (`from_env`, a server case) if set, else
/// the requested one; blank means none.
fn replay_of(requested: &Requested, from_env: Option<&str>) -> Result<Option<Case>, SetupError> {
    if let Some(text) = from_env {
        return text
            .parse::<Case>()
            .map(Some)
            .map_err(|e| env_error("STUTTERFUZZ_REPLAY", text, e));
    }
    match requested.replay.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(text) => {
            Some(text.parse::<Case>().map_err(|e| {
                SetupError::new(SetupErrorKind::Replay, format!("cannot replay: {e}"))
            }))
            .transpose()
        }
        None => Ok(None),
    }
}

/// Refuses settings that would send nothing or wait no time: no connections, no cycles, a
/// zero cycle or a zero timeout.
fn check_nonzero(requested: &Requested) -> Result<(), SetupError> {
    if requested.connections == 0 {
        return Err(settings_error(
            "connections(0) would send nothing: use at least 1 (the default is 100)".to_owned(),
        ));
    }
    if requested.cycles == Some(0) {
        return Err(settings_error(
            "cycles(0) would send nothing: use at least 1, or leave it unset to run until the time budget".to_owned(),
        ));
    }
    if requested.cycle.is_some_and(|c| c.is_zero()) {
        return Err(settings_error(
            "the cycle is zero: give a positive cycle such as 150ms, or leave it unset for paced delivery".to_owned(),
        ));
    }
    for (name, value) in [
        ("startup_timeout", requested.startup_timeout),
        ("connect_timeout", requested.connect_timeout),
        ("stall_time", requested.stall_time),
    ] {
        if value.is_zero() {
            return Err(settings_error(format!(
                "{name} is zero: give it a positive duration"
            )));
        }
    }
    Ok(())
}

impl Settings {
    /// How this run draws its cases.
    pub(crate) fn drawing(&self) -> Drawing {
        Drawing {
            seed: self.seed,
            mode: self.mode,
            chances: self.chances,
            stall_time: self.stall_time,
            tls: self.tls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn environment_overrides_code() {
        let requested = Requested {
            seed: Some(Seed::new(1)),
            ..Requested::default()
        };
        let env = |name: &str| match name {
            "STUTTERFUZZ_SEED" => Some("0x10".to_owned()),
            "STUTTERFUZZ_DURATION" => Some("2m".to_owned()),
            "STUTTERFUZZ_REPLAY" => Some("v1:a:1,2".to_owned()),
            _ => None,
        };
        let s = Settings::resolve(&requested, Duration::from_secs(1), env).unwrap();
        assert_eq!(s.seed, Seed::new(16));
        assert_eq!(s.budget, Duration::from_secs(120));
        assert_eq!(s.replay.unwrap().to_string(), "v1:a:1,2");

        let s = Settings::resolve(&requested, Duration::from_secs(1), no_env).unwrap();
        assert_eq!((s.seed, s.budget), (Seed::new(1), Duration::from_secs(1)));
    }

    /// Resolves the defaults, with `cycles(3)`, under one variable set to `value`.
    fn with_var(var: &'static str, value: &'static str) -> Settings {
        let requested = Requested {
            cycles: Some(3),
            ..Requested::default()
        };
        let env = move |name: &str| (name == var).then(|| value.to_owned());
        Settings::resolve(&requested, Duration::from_secs(1), env).unwrap()
    }

    #[test]
    fn duration_sets_the_budget_and_lifts_the_cycle_count() {
        let s = with_var("STUTTERFUZZ_DURATION", "20s");
        assert_eq!((s.budget, s.cycles), (Duration::from_secs(20), None));
        let s = with_var("STUTTERFUZZ_UNRELATED", "20s");
        assert_eq!((s.budget, s.cycles), (Duration::from_secs(1), Some(3)));
    }

    #[test]
    fn seed_sets_the_seed() {
        assert_eq!(with_var("STUTTERFUZZ_SEED", "0x2a").seed, Seed::new(42));
    }

    #[test]
    fn replay_sets_the_case_and_leaves_client_cases_alone() {
        let s = with_var("STUTTERFUZZ_REPLAY", "v1:ping.txt:2,4");
        assert_eq!(s.replay.unwrap().to_string(), "v1:ping.txt:2,4");
        assert!(with_var("STUTTERFUZZ_REPLAY", "c1:a:1,2").replay.is_none());
    }

    #[test]
    fn shrink_time_sets_the_narrowing_budget() {
        let s = with_var("STUTTERFUZZ_SHRINK_TIME", "7s");
        assert_eq!(s.shrink.time, Duration::from_secs(7));
    }

    #[test]
    fn shard_sets_the_shard() {
        let s = with_var("STUTTERFUZZ_SHARD", "2/4");
        assert_eq!((s.shard.number(), s.shard.count()), (2, 4));
    }

    #[test]
    fn bad_variables_name_themselves_and_their_value() {
        for (var, value) in [
            ("STUTTERFUZZ_SEED", "lots"),
            ("STUTTERFUZZ_DURATION", "soon"),
            ("STUTTERFUZZ_REPLAY", "v9:x"),
            ("STUTTERFUZZ_SHRINK_TIME", "quick"),
            ("STUTTERFUZZ_SHARD", "5/4"),
        ] {
            let env = |name: &str| (name == var).then(|| value.to_owned());
            let err =
                Settings::resolve(&Requested::default(), Duration::from_secs(1), env).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(value), "{text}");
            assert!(text.contains(var), "{text}");
        }
    }

    #[test]
    fn zero_counts_and_budgets_are_refused() {
        let check = |requested: Requested, budget: Duration, needle: &str| {
            let err = Settings::resolve(&requested, budget, no_env).unwrap_err();
            assert_eq!(err.kind(), SetupErrorKind::Settings);
            assert!(err.to_string().contains(needle), "{err}");
        };
        let secs = Duration::from_secs(1);
        check(
            Requested {
                connections: 0,
                ..Requested::default()
            },
            secs,
            "connections(0)",
        );
        check(
            Requested {
                cycles: Some(0),
                ..Requested::default()
            },
            secs,
            "cycles(0)",
        );
        check(Requested::default(), Duration::ZERO, "budget is zero");
    }
}

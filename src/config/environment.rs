//! The `STUTTERFUZZ_*` environment, read in one place for both directions: a server run
//! ([`Settings::resolve`](super::Settings::resolve)) and a client run lay the same
//! [`Overrides`] over what their builders were told, with the same messages.

use std::time::Duration;

use super::Shard;
use crate::error::{SetupError, SetupErrorKind};
use crate::rng::Seed;

/// The value of environment variable `name`, if it is set and valid UTF-8: the only place
/// settings read the process's environment.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// True when the run is under CI (`CI` set, and not to `false` or `0`).
pub(crate) fn in_ci() -> bool {
    env_var("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A settings error: what is wrong and what to do.
pub(crate) fn settings_error(message: String) -> SetupError {
    SetupError::new(SetupErrorKind::Settings, message)
}

/// The error for a variable that is set but does not parse: never a silent default.
pub(crate) fn env_error(name: &str, value: &str, why: impl std::fmt::Display) -> SetupError {
    settings_error(format!(
        "{name}={value:?} does not parse: {why}; fix or unset {name}"
    ))
}

/// Which direction a run fuzzes: it decides which replayed cases are its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Cuts what clients send a server (`v1:` cases).
    Server,
    /// Cuts what a server sends a client (`c1:` cases).
    Client,
}

/// What the environment lays over a run's builder, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Overrides {
    /// `STUTTERFUZZ_SEED`, else the one asked for, else a random one.
    pub(crate) seed: Seed,
    /// `STUTTERFUZZ_DURATION`, else the budget given.
    pub(crate) budget: Duration,
    /// The cycles asked for, unless `STUTTERFUZZ_DURATION` lifted them: the run then lasts
    /// as long as it says (a nightly job lengthens the same test the pull requests run).
    pub(crate) cycles: Option<u64>,
    /// `STUTTERFUZZ_SHRINK_TIME`: how long narrowing may take.
    pub(crate) shrink_time: Option<Duration>,
    /// `STUTTERFUZZ_REPLAY`, when it holds a case of this run's direction (a `cargo test`
    /// holds server and client tests both), not yet parsed.
    pub(crate) replay: Option<String>,
    /// `STUTTERFUZZ_SHARD` (server runs).
    pub(crate) shard: Option<Shard>,
}

impl Overrides {
    /// Reads the environment (`env(name)`) over the seed, budget and cycles asked for.
    pub(crate) fn read(
        direction: Direction,
        seed: Option<Seed>,
        budget: Duration,
        cycles: Option<u64>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Overrides, SetupError> {
        let seed = match env("STUTTERFUZZ_SEED") {
            Some(v) => v
                .parse::<Seed>()
                .map_err(|e| env_error("STUTTERFUZZ_SEED", &v, e))?,
            None => seed.unwrap_or_else(Seed::random),
        };
        let duration = |name: &str| -> Result<Option<Duration>, SetupError> {
            env(name)
                .map(|v| humantime::parse_duration(v.trim()).map_err(|e| env_error(name, &v, e)))
                .transpose()
        };
        let (budget, cycles) = match duration("STUTTERFUZZ_DURATION")? {
            Some(budget) => (budget, None),
            None => (budget, cycles),
        };
        if budget.is_zero() {
            return Err(settings_error(
                "the time budget is zero: give run_for a positive duration such as 10s".to_owned(),
            ));
        }
        let shard = match env("STUTTERFUZZ_SHARD") {
            Some(v) if direction == Direction::Server => Some(
                v.parse::<Shard>()
                    .map_err(|e| env_error("STUTTERFUZZ_SHARD", &v, e))?,
            ),
            _ => None,
        };
        let replay = env("STUTTERFUZZ_REPLAY").filter(|text| {
            !text.trim().is_empty()
                && crate::case::is_client_case(text) == (direction == Direction::Client)
        });
        Ok(Overrides {
            seed,
            budget,
            cycles,
            shrink_time: duration("STUTTERFUZZ_SHRINK_TIME")?,
            replay,
            shard,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(direction: Direction, vars: &[(&str, &str)]) -> Result<Overrides, SetupError> {
        let env = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Overrides::read(
            direction,
            Some(Seed::new(7)),
            Duration::from_secs(5),
            Some(10),
            env,
        )
    }

    #[test]
    fn both_directions_read_the_same_variables_the_same_way() {
        let vars = [
            ("STUTTERFUZZ_SEED", "0x2a"),
            ("STUTTERFUZZ_DURATION", "2m"),
            ("STUTTERFUZZ_SHRINK_TIME", "7s"),
        ];
        let server = read(Direction::Server, &vars).unwrap();
        let client = read(Direction::Client, &vars).unwrap();
        assert_eq!(server, client);
        assert_eq!(server.seed, Seed::new(42));
        assert_eq!(server.budget, Duration::from_secs(120));
        assert_eq!(server.cycles, None, "a duration lifts the cycles");
        assert_eq!(server.shrink_time, Some(Duration::from_secs(7)));
        let none = read(Direction::Client, &[]).unwrap();
        assert_eq!((none.seed, none.cycles), (Seed::new(7), Some(10)));
    }

    #[test]
    fn each_direction_takes_only_its_own_replayed_case() {
        let server_case = [("STUTTERFUZZ_REPLAY", "v1:a:1,2")];
        let client_case = [("STUTTERFUZZ_REPLAY", "c1:a:1,2")];
        assert!(
            read(Direction::Server, &server_case)
                .unwrap()
                .replay
                .is_some()
        );
        assert!(
            read(Direction::Client, &server_case)
                .unwrap()
                .replay
                .is_none()
        );
        assert!(
            read(Direction::Client, &client_case)
                .unwrap()
                .replay
                .is_some()
        );
        assert!(
            read(Direction::Server, &client_case)
                .unwrap()
                .replay
                .is_none()
        );
    }

    #[test]
    fn a_variable_that_does_not_parse_is_named_in_the_same_words_for_both() {
        for direction in [Direction::Server, Direction::Client] {
            let error = read(direction, &[("STUTTERFUZZ_DURATION", "soon")]).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains("STUTTERFUZZ_DURATION=\"soon\" does not parse")
                    && message.contains("fix or unset STUTTERFUZZ_DURATION"),
                "{message}"
            );
        }
    }
}

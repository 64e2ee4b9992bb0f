//! Resolved settings: the builder's values, checked, with the `STUTTERFUZZ_*` environment
//! laid over them. Pure functions of their inputs (the environment is passed in), so every
//! rule here is unit-tested without a process or a socket, except address resolution.
//!
//! | variable               | overrides              | example                 |
//! |------------------------|------------------------|-------------------------|
//! | `STUTTERFUZZ_SEED`     | `.seed(n)`             | `42`, `0x2a`            |
//! | `STUTTERFUZZ_DURATION` | `run_for(d)`'s `d`     | `30s`, `2m`, `1h 30m`   |
//! | `STUTTERFUZZ_REPLAY`   | `.replay(case)`        | `v1:ping.txt:2,4`       |
//! | `STUTTERFUZZ_SHRINK_TIME` | `.shrink_time(d)`   | `10s`, `0s` (off)       |
//!
//! A variable that is set but does not parse is an error naming it: never a silent default.

use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use crate::case::{Case, Chances, Drawing};
use crate::engine::Gap;
use crate::error::{SetupError, SetupErrorKind};
use crate::narrow::Budget;
use crate::rng::Seed;
use crate::split::SplitMode;

/// Settings as the builder holds them, before checking.
#[derive(Clone, Debug)]
pub(crate) struct Requested {
    pub(crate) seed: Option<Seed>,
    pub(crate) cycles: Option<u64>,
    pub(crate) connections: usize,
    pub(crate) pause: Duration,
    pub(crate) cycle: Option<Duration>,
    pub(crate) adaptive: bool,
    pub(crate) mode: SplitMode,
    pub(crate) chances: Chances,
    pub(crate) startup_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) stop_grace: Duration,
    pub(crate) replay: Option<String>,
    pub(crate) shrink: Budget,
}

impl Default for Requested {
    fn default() -> Self {
        Requested {
            seed: None,
            cycles: None,
            connections: 100,
            pause: Duration::from_millis(2),
            cycle: None,
            adaptive: true,
            mode: SplitMode::Mixed,
            chances: Chances {
                close: 500,
                fastopen: 2,
            },
            startup_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(2),
            replay: None,
            shrink: Budget::default(),
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
}

fn settings_error(message: String) -> SetupError {
    SetupError::new(SetupErrorKind::Settings, message)
}

fn env_error(name: &str, value: &str, why: impl std::fmt::Display) -> SetupError {
    settings_error(format!(
        "{name}={value:?} does not parse: {why}; fix or unset {name}"
    ))
}

impl Settings {
    /// Checks `requested` and lays the environment (`env(name)`) over it.
    pub(crate) fn resolve(
        requested: &Requested,
        budget: Duration,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SetupError> {
        let seed = match env("STUTTERFUZZ_SEED") {
            Some(v) => v
                .parse::<Seed>()
                .map_err(|e| env_error("STUTTERFUZZ_SEED", &v, e))?,
            None => requested.seed.unwrap_or_else(Seed::random),
        };
        let budget = match env("STUTTERFUZZ_DURATION") {
            Some(v) => humantime::parse_duration(v.trim())
                .map_err(|e| env_error("STUTTERFUZZ_DURATION", &v, e))?,
            None => budget,
        };
        if budget.is_zero() {
            return Err(settings_error(
                "the time budget is zero: give run_for a positive duration such as 10s".to_owned(),
            ));
        }
        let mut shrink = requested.shrink;
        if let Some(v) = env("STUTTERFUZZ_SHRINK_TIME") {
            shrink.time = humantime::parse_duration(v.trim())
                .map_err(|e| env_error("STUTTERFUZZ_SHRINK_TIME", &v, e))?;
        }
        let replay = match env("STUTTERFUZZ_REPLAY").filter(|t| !t.trim().is_empty()) {
            Some(v) => Some(
                v.parse::<Case>()
                    .map_err(|e| env_error("STUTTERFUZZ_REPLAY", &v, e))?,
            ),
            None => match requested.replay.as_deref().filter(|t| !t.trim().is_empty()) {
                Some(text) => Some(text.parse::<Case>().map_err(|e| {
                    SetupError::new(SetupErrorKind::Replay, format!("cannot replay: {e}"))
                })?),
                None => None,
            },
        };
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
        ] {
            if value.is_zero() {
                return Err(settings_error(format!(
                    "{name} is zero: give it a positive duration"
                )));
            }
        }
        Ok(Settings {
            seed,
            budget,
            cycles: requested.cycles,
            connections: requested.connections,
            gap: match (requested.cycle, requested.adaptive) {
                (Some(every), _) => Gap::Cycle(every),
                (None, true) => Gap::Adaptive(requested.pause),
                (None, false) => Gap::Pause(requested.pause),
            },
            mode: requested.mode,
            chances: requested.chances,
            startup_timeout: requested.startup_timeout,
            connect_timeout: requested.connect_timeout,
            stop_grace: requested.stop_grace,
            replay,
            shrink,
        })
    }
}

impl Settings {
    /// How this run draws its cases.
    pub(crate) fn drawing(&self) -> Drawing {
        Drawing {
            seed: self.seed,
            mode: self.mode,
            chances: self.chances,
        }
    }
}

fn address_error(message: String) -> SetupError {
    SetupError::new(SetupErrorKind::Address, message)
}

/// What port 0 means for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortZero {
    /// Pick a free port now (for a server the harness spawns).
    Pick,
    /// Keep 0: the harness binds the listener itself (in-process servers).
    Keep,
    /// Refuse: the server is already running somewhere.
    Refuse,
}

/// Resolves `HOST:PORT` (`127.0.0.1:6789`, `[::1]:6789`, `localhost:6789`) to the first
/// address it names. Port 0 asks for a free port, which only makes sense when the harness
/// starts the server.
pub(crate) fn resolve_addr(text: &str, port_zero: PortZero) -> Result<SocketAddr, SetupError> {
    let form = "expected HOST:PORT such as 127.0.0.1:6789, [::1]:6789 or localhost:6789";
    let (host, port) = text
        .trim()
        .rsplit_once(':')
        .ok_or_else(|| address_error(format!("{text:?} is not an address: {form}")))?;
    let port: u16 = match port.parse::<u32>() {
        Ok(p) if p <= u32::from(u16::MAX) => p as u16,
        Ok(p) => {
            return Err(address_error(format!(
                "port {p} in {text:?} is out of range: use 0-65535"
            )));
        }
        Err(_) => {
            return Err(address_error(format!("{text:?} has no valid port: {form}")));
        }
    };
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inside) => inside,
        None if host.contains(':') => {
            return Err(address_error(format!(
                "{text:?}: an IPv6 address needs brackets, as in [::1]:6789"
            )));
        }
        None => host,
    };
    if host.is_empty() {
        return Err(address_error(format!("{text:?} has no host: {form}")));
    }
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => (host, 0)
            .to_socket_addrs()
            .map_err(|e| {
                address_error(format!(
                    "cannot resolve host {host:?}: {e}; check the name, or give an IP address"
                ))
                .with_source(e)
            })?
            .next()
            .ok_or_else(|| address_error(format!("host {host:?} resolves to no address")))?
            .ip(),
    };
    if port != 0 || port_zero == PortZero::Keep {
        return Ok(SocketAddr::new(ip, port));
    }
    if port_zero == PortZero::Refuse {
        return Err(address_error(format!(
            "port 0 in {text:?} means \"pick a free port\", which needs stutterfuzz to start the server (.server / --server); give the port your server listens on"
        )));
    }
    free_port(ip)
}

/// A port on `ip` that is free now (the kernel picks it). Another process may take it
/// before the server binds it: the harness checks, and picks again, before it starts one.
pub(crate) fn free_port(ip: IpAddr) -> Result<SocketAddr, SetupError> {
    let probe = TcpListener::bind((ip, 0)).map_err(|e| {
        address_error(format!("cannot find a free port on {ip}: {e}")).with_source(e)
    })?;
    probe
        .local_addr()
        .map_err(|e| address_error(format!("cannot find a free port on {ip}: {e}")))
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

    #[test]
    fn bad_variables_name_themselves_and_their_value() {
        for (var, value) in [
            ("STUTTERFUZZ_SEED", "lots"),
            ("STUTTERFUZZ_DURATION", "soon"),
            ("STUTTERFUZZ_REPLAY", "v9:x"),
            ("STUTTERFUZZ_SHRINK_TIME", "quick"),
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

    #[test]
    fn addresses_parse_resolve_and_explain_themselves() {
        assert_eq!(
            resolve_addr("127.0.0.1:6789", PortZero::Refuse)
                .unwrap()
                .to_string(),
            "127.0.0.1:6789"
        );
        assert_eq!(
            resolve_addr("[::1]:6789", PortZero::Refuse)
                .unwrap()
                .to_string(),
            "[::1]:6789"
        );
        assert!(
            resolve_addr("localhost:6789", PortZero::Refuse)
                .unwrap()
                .ip()
                .is_loopback()
        );
        let picked = resolve_addr("127.0.0.1:0", PortZero::Pick).unwrap();
        assert_ne!(picked.port(), 0);
        assert_eq!(
            resolve_addr("127.0.0.1:0", PortZero::Keep).unwrap().port(),
            0
        );

        for (text, needle) in [
            ("127.0.0.1", "not an address"),
            ("localhost:http", "no valid port"),
            ("::1:80", "brackets"),
            ("6789", "not an address"),
            ("127.0.0.1:70000", "out of range"),
            (":80", "no host"),
            ("127.0.0.1:0", "needs stutterfuzz to start the server"),
            ("no-such-host.invalid:80", "cannot resolve host"),
        ] {
            let err = resolve_addr(text, PortZero::Refuse).unwrap_err();
            assert_eq!(err.kind(), SetupErrorKind::Address);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}

//! Addresses: `HOST:PORT` or `unix:PATH` as a user writes it, resolved, and what port 0 (or
//! a Unix socket with no path) means for a run.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{SetupError, SetupErrorKind};

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

/// Where a server listens: a TCP address, or the path of a Unix domain stream socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    /// As a user writes it: `127.0.0.1:6789`, `[::1]:6789`, `unix:/run/app.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Endpoint {
    /// The TCP address, if this is one.
    pub(crate) fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Tcp(addr) => Some(*addr),
            Endpoint::Unix(_) => None,
        }
    }
}

/// The most bytes a Unix socket's path may have (`sun_path`, less its closing NUL).
const SUN_PATH_MAX: usize = 107;

/// Resolves what a user wrote, `HOST:PORT` (see [`resolve_addr`]) or `unix:PATH`. A Unix
/// path with no server to start must name a socket that is there now; with one, the server
/// makes it. `unix:` alone, for a server the harness starts, asks for a fresh path: `None`
/// then, for the run to make one in a folder of its own.
pub(crate) fn resolve_endpoint(
    text: &str,
    port_zero: PortZero,
) -> Result<Option<Endpoint>, SetupError> {
    let Some(path) = text.trim().strip_prefix("unix:") else {
        return resolve_addr(text, port_zero).map(|addr| Some(Endpoint::Tcp(addr)));
    };
    if path.is_empty() {
        return match port_zero {
            PortZero::Pick => Ok(None),
            _ => Err(address_error(format!(
                "{text:?} names no socket: give its path, as in unix:/run/app.sock (--unix PATH); a path is picked only for a server stutterfuzz starts (.server / --server)"
            ))),
        };
    }
    let path = PathBuf::from(path);
    check_socket_path(&path)?;
    if port_zero == PortZero::Refuse {
        check_is_socket(&path)?;
    }
    Ok(Some(Endpoint::Unix(path)))
}

/// A path the kernel can bind or connect to: short enough for `sun_path`.
pub(crate) fn check_socket_path(path: &Path) -> Result<(), SetupError> {
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        return Err(address_error(format!(
            "the socket path {} is {len} bytes, more than the {SUN_PATH_MAX} a Unix socket's address holds: use a shorter path (a folder nearer the root, or a relative path)",
            path.display()
        )));
    }
    Ok(())
}

/// The path names a socket that is there now (a server already listening on it).
fn check_is_socket(path: &Path) -> Result<(), SetupError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => Ok(()),
        Ok(_) => Err(address_error(format!(
            "{} is not a socket: give the path your server listens on (its config's socket or unixsocket setting)",
            path.display()
        ))),
        Err(e) => Err(address_error(format!(
            "no socket at {}: {e}; start the server first, or give .server(COMMAND) / --server so stutterfuzz starts it",
            path.display()
        ))
        .with_source(e)),
    }
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

    #[test]
    fn unix_paths_are_checked_and_explain_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let text = format!("unix:{}", socket.display());
        let endpoint = resolve_endpoint(&text, PortZero::Refuse).unwrap().unwrap();
        assert_eq!(endpoint, Endpoint::Unix(socket.clone()));
        assert_eq!(endpoint.to_string(), text);
        assert_eq!(resolve_endpoint("unix:", PortZero::Pick).unwrap(), None);
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        let long = format!("unix:/{}", "a".repeat(200));
        for (text, port_zero, needle) in [
            ("unix:".to_owned(), PortZero::Refuse, "names no socket"),
            (
                format!("unix:{}", dir.path().join("none").display()),
                PortZero::Refuse,
                "no socket at",
            ),
            (
                format!("unix:{}", file.display()),
                PortZero::Refuse,
                "is not a socket",
            ),
            (long, PortZero::Pick, "more than the 107"),
        ] {
            let err = resolve_endpoint(&text, port_zero).unwrap_err();
            assert_eq!(err.kind(), SetupErrorKind::Address);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        // A server the harness starts makes its socket: it need not be there yet.
        let later = format!("unix:{}", dir.path().join("later.sock").display());
        assert!(resolve_endpoint(&later, PortZero::Pick).is_ok());
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

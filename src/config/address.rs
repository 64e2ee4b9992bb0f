//! Addresses: `HOST:PORT` as a user writes it, resolved, and what port 0 means for a run.

use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};

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

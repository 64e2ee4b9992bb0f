//! Fitting a run to the process's open-file limit: each connection in flight holds a
//! descriptor, and a run that hits the limit would die with EMFILE mid-run. The soft limit
//! is raised as far as the hard limit allows; past that, the connection count is capped.
//!
//! The limit belongs to the whole process, and is not lowered again after the run (another
//! run in the same process may still use it): the report's notes say so whenever a run
//! raised it, so the change is never silent.

use crate::platform::{open_file_limits, raise_open_file_limit};

/// Descriptors kept free for everything else (the server's pipes, files, the runtime).
const RESERVE: u64 = 64;

/// Makes room for `connections` in flight; returns how many fit, and notes for the report:
/// that the process's limit was raised, and why fewer connections fit, if they do.
pub(crate) fn fit_connections(connections: usize) -> (usize, Vec<String>) {
    let Some((soft, hard)) = open_file_limits() else {
        return (connections, Vec::new());
    };
    let (fits, raise_to) = fit(connections as u64, soft, hard);
    let mut notes = Vec::new();
    if let Some(limit) = raise_to {
        // Raising the soft limit up to the hard one needs no privilege.
        if !raise_open_file_limit(limit, hard) {
            let (fits, _) = fit(connections as u64, soft, soft);
            let (n, capped) = capped(connections, fits, soft);
            return (n, capped.into_iter().collect());
        }
        notes.push(raised(soft, limit, connections));
    }
    let (n, capped) = capped(connections, fits, hard);
    notes.extend(capped);
    (n, notes)
}

fn raised(from: u64, to: u64, connections: usize) -> String {
    format!(
        "raised this process's open-file limit from {from} to {to} for {connections} connections; it stays raised after the run"
    )
}

fn capped(asked: usize, fits: u64, limit: u64) -> (usize, Option<String>) {
    let fits = usize::try_from(fits).unwrap_or(usize::MAX);
    if fits >= asked {
        return (asked, None);
    }
    (
        fits,
        Some(format!(
            "{asked} connections need more open files than the limit of {limit} allows: using {fits}; raise the limit (ulimit -n) to use more"
        )),
    )
}

/// For `connections` under (`soft`, `hard`) limits: how many fit, and the soft limit to set
/// (if it must rise).
fn fit(connections: u64, soft: u64, hard: u64) -> (u64, Option<u64>) {
    let needed = connections.saturating_add(RESERVE);
    if needed <= soft {
        return (connections, None);
    }
    let limit = needed.min(hard);
    let fits = limit.saturating_sub(RESERVE).max(1);
    (fits.min(connections), (limit > soft).then_some(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_before_connections_are_capped() {
        assert_eq!(fit(100, 1024, 4096), (100, None));
        assert_eq!(fit(2000, 1024, 4096), (2000, Some(2064)));
        assert_eq!(fit(5000, 1024, 4096), (4032, Some(4096)));
        assert_eq!(fit(500, 256, 256), (192, None));
        assert_eq!(fit(10, 20, 20), (1, None), "always at least one");
    }

    #[test]
    fn a_cap_is_explained() {
        let (n, note) = capped(1000, 192, 256);
        assert_eq!(n, 192);
        let note = note.unwrap();
        assert!(
            note.contains("limit of 256")
                && note.contains("using 192")
                && note.contains("ulimit -n"),
            "{note}"
        );
        assert_eq!(capped(10, 50, 256), (10, None));
    }

    #[test]
    fn a_raised_limit_is_said() {
        let note = raised(1024, 2064, 2000);
        assert!(
            note.contains("from 1024 to 2064") && note.contains("stays raised"),
            "{note}"
        );
    }
}

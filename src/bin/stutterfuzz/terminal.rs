//! The stats line on stderr: rewritten in place on a terminal, as the original tool does, and
//! one line per interval otherwise, so logs stay readable.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use stutterfuzz::Stats;

/// Prints progress for one run.
#[derive(Clone)]
pub(crate) struct StatsLine {
    tty: bool,
    /// The original tool's fields (`--original-stats`) rather than the line for people.
    original: bool,
    /// A line is on screen without its newline yet.
    open: Arc<AtomicBool>,
}

impl StatsLine {
    pub(crate) fn new(original: bool) -> Self {
        StatsLine {
            tty: std::io::stderr().is_terminal(),
            original,
            open: Arc::new(AtomicBool::new(false)),
        }
    }

    /// How often a line is printed: every second on a terminal, every ten seconds in a log.
    pub(crate) fn interval(&self) -> Duration {
        if self.tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        }
    }

    pub(crate) fn show(&self, stats: &Stats) {
        let line = self.line(stats);
        if self.tty {
            eprint!("\r{line}\x1b[K");
            self.open.store(true, Ordering::Relaxed);
        } else {
            eprintln!("{line}");
        }
    }

    /// The stats as this run prints them.
    pub(crate) fn line(&self, stats: &Stats) -> String {
        if self.original {
            stats.original().to_string()
        } else {
            stats.to_string()
        }
    }

    /// Ends a line left open on the terminal, before anything else is printed.
    pub(crate) fn close(&self) {
        if self.open.swap(false, Ordering::Relaxed) {
            eprintln!();
        }
    }
}

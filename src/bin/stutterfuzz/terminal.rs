//! The progress of a run on stderr: on a terminal, one line kept up to date in place
//! (indicatif draws it, fitted to the terminal's width, and lifts it while a finding is
//! printed); otherwise one stats line per interval, so logs stay readable.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stutterfuzz::Stats;

/// Prints progress for one run.
#[derive(Clone)]
pub(crate) struct StatsLine {
    /// The line in place, on a terminal.
    bar: Option<ProgressBar>,
    /// The original tool's fields (`--original-stats`) rather than the line for people.
    original: bool,
    started: Instant,
    /// The run's time budget, when it has one (`--duration`).
    budget: Option<Duration>,
}

impl StatsLine {
    pub(crate) fn new(original: bool, budget: Option<Duration>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{wide_msg}") {
                bar.set_style(style);
            }
            bar
        });
        StatsLine {
            bar,
            original,
            started: Instant::now(),
            budget,
        }
    }

    /// How often progress is shown: every second on a terminal, every ten seconds in a log.
    pub(crate) fn interval(&self) -> Duration {
        match self.bar {
            Some(_) => Duration::from_secs(1),
            None => Duration::from_secs(10),
        }
    }

    pub(crate) fn show(&self, stats: &Stats) {
        self.show_text(&self.line(stats));
    }

    /// Shows one line of progress (a client run's, say) as the stats line is shown.
    pub(crate) fn show_text(&self, line: &str) {
        match &self.bar {
            // How far into its budget the run is, first: the rest is the stats line.
            Some(bar) => bar.set_message(format!("[{}] {line}", self.elapsed())),
            None => eprintln!("{line}"),
        }
    }

    /// `1m 5s of 10m`: the whole run's time so far (narrowing and restarts too).
    fn elapsed(&self) -> String {
        let so_far =
            humantime::format_duration(Duration::from_secs(self.started.elapsed().as_secs()));
        match self.budget {
            Some(budget) => format!("{so_far} of {}", humantime::format_duration(budget)),
            None => so_far.to_string(),
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

    /// Runs `print` with the line lifted off the terminal, so what it prints (a finding)
    /// is not drawn over; the line comes back after.
    pub(crate) fn suspend(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Prints a new finding of a run that keeps going, the moment it is made: a header with
    /// its signature, then what `report` prints (and saves), the line lifted meanwhile.
    pub(crate) fn new_finding(&self, signature: &str, report: impl FnOnce()) {
        self.suspend(|| {
            println!("== a new finding ({signature}) ==");
            report();
        });
    }

    /// Takes the line off the terminal, before the run's last words are printed.
    pub(crate) fn close(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

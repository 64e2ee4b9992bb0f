//! Which lines of the server's output mark a bug even when the process lives on: sanitizer
//! reports, Rust panics (tokio catches a task's panic and goes on), valgrind errors. The
//! setting of `OutputRules` (`--fail-on-output` / `--ignore-output`); the server's output drains apply it.

/// Substrings that mark a bug in a server's stdout or stderr.
pub(crate) const DEFAULT_PATTERNS: [&str; 8] = [
    "AddressSanitizer",
    "LeakSanitizer",
    "ThreadSanitizer",
    "runtime error:",
    "panicked at",
    "Invalid read",
    "Invalid write",
    "definitely lost",
];

/// The first line of an exception trace in languages whose servers print one and go on
/// (Python, Java, Node, Go): not a finding unless asked for, but worth a hint.
const TRACE_STARTS: [&str; 4] = [
    "Traceback (most recent call last)",
    "Exception in thread",
    "UnhandledPromiseRejection",
    "panic: ",
];

/// Which output lines are findings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutputWatch {
    pub(crate) fail_on: Vec<String>,
    pub(crate) ignore: Vec<String>,
}

impl Default for OutputWatch {
    fn default() -> Self {
        OutputWatch {
            fail_on: DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
            ignore: Vec::new(),
        }
    }
}

impl OutputWatch {
    /// No line marks a bug.
    pub(crate) fn none() -> Self {
        OutputWatch {
            fail_on: Vec::new(),
            ignore: Vec::new(),
        }
    }

    /// The start of an exception trace `line` holds, when the line is no finding (no
    /// pattern, or an ignored one, matches it): a hint the report gives.
    pub(crate) fn trace(&self, line: &str) -> Option<&'static str> {
        if self.alarm(line).is_some() || self.ignore.iter().any(|i| line.contains(i.as_str())) {
            return None;
        }
        TRACE_STARTS.into_iter().find(|start| line.contains(start))
    }

    /// The pattern `line` matches, unless an ignore pattern also matches it.
    pub(crate) fn alarm<'a>(&'a self, line: &str) -> Option<&'a str> {
        if self.ignore.iter().any(|i| line.contains(i.as_str())) {
            return None;
        }
        self.fail_on
            .iter()
            .find(|p| !p.is_empty() && line.contains(p.as_str()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_catch_sanitizers_panics_and_valgrind_and_ignores_win() {
        let mut watch = OutputWatch::default();
        for line in [
            "==1==ERROR: AddressSanitizer: heap-buffer-overflow",
            "src/a.c:3:5: runtime error: signed integer overflow",
            "thread 'tokio-runtime-worker' panicked at src/main.rs:9:5:",
            "==9== Invalid read of size 4",
            "==9==    definitely lost: 16 bytes in 1 blocks",
        ] {
            assert!(watch.alarm(line).is_some(), "{line}");
        }
        assert_eq!(watch.alarm("GET /index.html 200"), None);
        watch.ignore.push("expected panic".into());
        assert_eq!(watch.alarm("expected panic: panicked at test"), None);
        watch.fail_on.push("FATAL".into());
        assert_eq!(watch.alarm("FATAL: disk full"), Some("FATAL"));
    }
}

//! Watching the server's output for lines that mean a bug even when the process lives on:
//! sanitizer reports, Rust panics (tokio catches a task's panic and goes on), valgrind
//! errors.

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

/// Cuts a byte stream into lines (without their `\n`), however the reads fall. A line
/// longer than the limit is cut there, so a server printing without newlines cannot fill
/// memory.
#[derive(Debug, Default)]
pub(crate) struct LineScanner {
    partial: Vec<u8>,
}

const LINE_LIMIT: usize = 4096;

impl LineScanner {
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            if b == b'\n' || self.partial.len() >= LINE_LIMIT {
                lines.push(
                    String::from_utf8_lossy(&self.partial)
                        .trim_end_matches('\r')
                        .to_owned(),
                );
                self.partial.clear();
                if b == b'\n' {
                    continue;
                }
            }
            self.partial.push(b);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_whole_however_the_reads_fall() {
        let mut scanner = LineScanner::default();
        assert!(scanner.feed(b"thread 'main' pan").is_empty());
        assert_eq!(
            scanner.feed(b"icked at src/x.rs\r\nnext\n"),
            ["thread 'main' panicked at src/x.rs", "next"]
        );
        assert!(scanner.feed(b"tail").is_empty());
    }

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

//! A bounded record of what the server printed: the first bytes and the last bytes, with a
//! count of what fell in between. A server that prints without end never fills memory, and
//! its pipe is always drained, so it never blocks on a write.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::panic_text::{fold_runtime_frames, panic_message};
use crate::config::OutputWatch;

const HEAD: usize = 1024;
const TAIL: usize = 4 * 1024;

/// One stream's record.
#[derive(Debug, Default)]
pub(crate) struct OutputLog {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
    traces: Traces,
    /// The first trace is a Python one whose exception line is still to come.
    awaiting_exception: bool,
    /// The harness has asked the server to stop: traces of its shutdown are not counted.
    stopping: bool,
}

/// Exception traces the server printed that are no finding: how many, and the first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Traces {
    pub(crate) count: u64,
    /// The first trace's line, and the pattern that names it.
    pub(crate) first: Option<(String, &'static str)>,
}

impl OutputLog {
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = HEAD - self.head.len();
        let n = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..n]);
        bytes = &bytes[n..];
        if bytes.len() > TAIL {
            bytes = &bytes[bytes.len() - TAIL..];
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(TAIL);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    pub(crate) fn snapshot(&self) -> OutputSnapshot {
        let kept = (self.head.len() + self.tail.len()) as u64;
        OutputSnapshot {
            head: self.head.clone(),
            omitted: self.total - kept,
            tail: self.tail.iter().copied().collect(),
            traces: self.traces.clone(),
        }
    }

    /// From now on the server is being stopped: what it prints is kept, but exception
    /// traces are not counted (a server stopped mid-request may fail its requests noisily).
    pub(crate) fn stopping(&mut self) {
        self.stopping = true;
    }

    /// Counts an exception trace that starts at `line` (its start `pattern`).
    fn trace(&mut self, line: &str, pattern: &'static str) {
        if self.stopping {
            return;
        }
        self.traces.count += 1;
        if self.traces.first.is_none() {
            self.traces.first = Some((line.to_owned(), pattern));
            // A Python trace names its exception on its last line, after the frames.
            self.awaiting_exception = line.contains(PYTHON_TRACE);
        }
    }

    /// A line after a trace's start: the first one not indented ends a Python trace, and
    /// names its exception (`BrokenPipeError: [Errno 32] Broken pipe`), which the hint shows
    /// rather than the start.
    fn trace_goes_on(&mut self, line: &str) {
        if !self.awaiting_exception || line.starts_with([' ', '\t']) || line.is_empty() {
            return;
        }
        self.awaiting_exception = false;
        if let Some((first, _)) = &mut self.traces.first {
            *first = line.to_owned();
        }
    }
}

/// How a Python trace starts.
const PYTHON_TRACE: &str = "Traceback (most recent call last)";

/// What a stream held when a report was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OutputSnapshot {
    pub(crate) head: Vec<u8>,
    pub(crate) omitted: u64,
    pub(crate) tail: Vec<u8>,
    pub(crate) traces: Traces,
}

impl OutputSnapshot {
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    /// What it holds as text: head and tail joined where they meet (no bytes between them),
    /// on a line of their own where bytes were left out, so no line reads as glued.
    pub(crate) fn text(&self) -> String {
        let gap: &[u8] = if self.omitted > 0 { b"\n" } else { b"" };
        String::from_utf8_lossy(&[&self.head[..], gap, &self.tail[..]].concat()).into_owned()
    }

    /// The message of the first Rust panic it holds (`panicked at FILE:LINE:COL: message`).
    pub(crate) fn panic_message(&self) -> Option<String> {
        panic_message(&self.text())
    }

    /// The server's output as indented lines (`  | `), control bytes escaped, with a marker
    /// where bytes were left out, and the runtime's frames of a backtrace folded to a count.
    pub(crate) fn indented(&self) -> String {
        let mut text = String::new();
        if self.omitted == 0 {
            // Head and tail are contiguous: join them so no line is cut in two.
            push_lines(&mut text, &[&self.head[..], &self.tail[..]].concat());
            return text;
        }
        // Whole lines only on either side of the gap: a line cut by the byte limits (a
        // frame's path cut mid-symbol) reads as noise; its bytes count as omitted.
        let head_end = self
            .head
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let tail_start = self
            .tail
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.tail.len(), |i| i + 1);
        let omitted = self.omitted + (self.head.len() - head_end + tail_start) as u64;
        push_lines(&mut text, &self.head[..head_end]);
        let _ = writeln!(text, "  | ... {omitted} bytes omitted ...");
        push_lines(&mut text, &self.tail[tail_start..]);
        text
    }
}

fn push_lines(text: &mut String, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let lossy = String::from_utf8_lossy(bytes);
    // Blank lines before the first words (a panic message begins with one) say nothing.
    let lines: Vec<&str> = lossy
        .trim_start_matches(['\n', '\r'])
        .trim_end_matches('\n')
        .split('\n')
        .collect();
    if lines == [""] {
        return;
    }
    for line in fold_runtime_frames(&lines) {
        text.push_str("  | ");
        for c in line.chars() {
            if c.is_control() && c != '\t' {
                let _ = write!(text, "{}", c.escape_default());
            } else {
                text.push(c);
            }
        }
        text.push('\n');
    }
}

/// Where an alarming line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlarmSource {
    /// The server process's standard output.
    Stdout,
    /// The server process's standard error.
    Stderr,
    /// A panic on one of an in-process server's threads (the panic hook saw it).
    TaskPanic,
}

impl AlarmSource {
    /// The name a finding shows: `stdout`, `stderr`, or `panic`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AlarmSource::Stdout => "stdout",
            AlarmSource::Stderr => "stderr",
            AlarmSource::TaskPanic => "panic",
        }
    }
}

/// A line of the server's output that matched a pattern of the watch, or a panic of an
/// in-process server's task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Alarm {
    pub(crate) source: AlarmSource,
    pub(crate) line: String,
    pub(crate) pattern: String,
}

/// Where a drain reports alarming lines, once armed (lines printed while the server starts
/// are not findings).
#[derive(Clone)]
pub(crate) struct AlarmSink {
    pub(crate) watch: Arc<OutputWatch>,
    pub(crate) armed: Arc<AtomicBool>,
    pub(crate) alarms: mpsc::UnboundedSender<Alarm>,
}

/// Reads `stream` (from `source`) to its end into `log`, reporting alarming lines to `sink`.
pub(crate) async fn drain(
    mut stream: impl AsyncRead + Unpin,
    source: AlarmSource,
    log: Arc<Mutex<OutputLog>>,
    sink: Option<AlarmSink>,
) {
    let mut buf = vec![0u8; 8192];
    let mut lines = LineScanner::default();
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(&buf[..n]);
        let Some(sink) = &sink else { continue };
        for line in lines.feed(&buf[..n]) {
            if !sink.armed.load(Ordering::Relaxed) {
                continue;
            }
            if let Some(pattern) = sink.watch.alarm(&line) {
                let _ = sink.alarms.send(Alarm {
                    source,
                    pattern: pattern.to_owned(),
                    line,
                });
            } else if let Some(pattern) = sink.watch.trace(&line) {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .trace(&line, pattern);
            } else {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .trace_goes_on(&line);
            }
        }
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
    fn output_is_indented_escaped_and_marked() {
        let out = OutputSnapshot {
            head: b"\nstart\x1b[31m\npartial".to_vec(),
            omitted: 42,
            tail: b"al line\nend\n".to_vec(),
            ..OutputSnapshot::default()
        };
        // Lines cut by the limits are left out with the gap (7 + 8 bytes more).
        assert_eq!(
            out.indented(),
            "  | start\\u{1b}[31m\n  | ... 57 bytes omitted ...\n  | end\n"
        );
    }

    #[test]
    fn contiguous_head_and_tail_keep_lines_whole() {
        let out = OutputSnapshot {
            head: b"one li".to_vec(),
            omitted: 0,
            tail: b"ne\ntwo\n".to_vec(),
            ..OutputSnapshot::default()
        };
        assert_eq!(out.indented(), "  | one line\n  | two\n");
    }

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
    fn keeps_head_and_tail_and_counts_the_rest() {
        let mut log = OutputLog::default();
        log.push(b"first line\n");
        let snap = log.snapshot();
        assert_eq!(snap.head, b"first line\n");
        assert_eq!(snap.omitted, 0);

        for i in 0..10_000 {
            log.push(format!("line {i}\n").as_bytes());
        }
        let snap = log.snapshot();
        assert!(snap.head.starts_with(b"first line\nline 0\n"));
        assert_eq!(snap.head.len(), HEAD);
        assert_eq!(snap.tail.len(), TAIL);
        assert!(snap.tail.ends_with(b"line 9999\n"));
        let total: u64 = 11
            + (0..10_000)
                .map(|i| format!("line {i}\n").len() as u64)
                .sum::<u64>();
        assert_eq!(snap.omitted + (HEAD + TAIL) as u64, total);
    }

    #[test]
    fn a_huge_single_write_keeps_only_its_end() {
        let mut log = OutputLog::default();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        log.push(&big);
        let snap = log.snapshot();
        assert_eq!(snap.head, big[..HEAD]);
        assert_eq!(snap.tail, big[big.len() - TAIL..]);
    }

    #[test]
    fn traces_printed_while_the_server_is_stopped_are_not_counted() {
        let mut log = OutputLog::default();
        log.trace("Traceback (most recent call last):", PYTHON_TRACE);
        log.stopping();
        log.push(b"Traceback (most recent call last):\n");
        log.trace("Traceback (most recent call last):", PYTHON_TRACE);
        let snapshot = log.snapshot();
        assert_eq!(snapshot.traces.count, 1);
        assert!(
            snapshot.head.ends_with(b"last):\n"),
            "what it printed is kept"
        );
    }
}

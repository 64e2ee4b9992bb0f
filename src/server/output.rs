//! A bounded record of what the server printed: the first bytes and the last bytes, with a
//! count of what fell in between. A server that prints without end never fills memory, and
//! its pipe is always drained, so it never blocks on a write.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::oracle::{LineScanner, OutputWatch};

const HEAD: usize = 1024;
const TAIL: usize = 4 * 1024;

/// One stream's record.
#[derive(Debug, Default)]
pub(crate) struct OutputLog {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
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
        }
    }
}

/// What a stream held when a report was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OutputSnapshot {
    pub(crate) head: Vec<u8>,
    pub(crate) omitted: u64,
    pub(crate) tail: Vec<u8>,
}

impl OutputSnapshot {
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }
}

/// A line of the server's output that matched a pattern of the watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Alarm {
    pub(crate) stream: &'static str,
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

/// Reads `stream` (named `name`) to its end into `log`, reporting alarming lines to `sink`.
pub(crate) async fn drain(
    mut stream: impl AsyncRead + Unpin,
    name: &'static str,
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
                    stream: name,
                    pattern: pattern.to_owned(),
                    line,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

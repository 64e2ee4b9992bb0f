//! Reading a panic out of what a server printed: its message for a report's headline, and its
//! backtrace with the frames of the runtime (std, core, alloc, tokio, the panic machinery)
//! folded to a count, so the frames of the server's own code stand out.

/// The message of the first Rust panic in `text`: `panicked at src/lib.rs:104:33: a read
/// ends at a line end` (the location, then the line after it, which holds the message).
pub(crate) fn panic_message(text: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(at) = line.find("panicked at ") else {
            continue;
        };
        let location = line[at..].trim_end();
        // Since Rust 1.73 the message is on the next line; before, after a comma.
        return Some(match lines.next().map(str::trim) {
            Some(message) if location.ends_with(':') && !message.is_empty() => {
                format!("{location} {message}")
            }
            _ => location.trim_end_matches(':').to_owned(),
        });
    }
    None
}

/// `lines` with each run of runtime frames of a backtrace (a frame line `N: symbol` and its
/// `at path` line) replaced by one line saying how many were left out.
pub(crate) fn fold_runtime_frames(lines: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut folded = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let next_is_at = lines
            .get(i + 1)
            .is_some_and(|l| l.trim_start().starts_with("at "));
        if let Some(symbol) = frame_symbol(line)
            && is_runtime(symbol, next_is_at.then(|| lines[i + 1]))
        {
            folded += 1;
            i += if next_is_at { 2 } else { 1 };
            continue;
        }
        if folded > 0 {
            out.push(format!(
                "      … {folded} frames of std, core and the runtime …"
            ));
            folded = 0;
        }
        out.push(line.to_owned());
        i += 1;
    }
    if folded > 0 {
        out.push(format!(
            "      … {folded} frames of std, core and the runtime …"
        ));
    }
    out
}

/// The symbol of a backtrace frame line (`  12: tokio::runtime::task::...`).
fn frame_symbol(line: &str) -> Option<&str> {
    let (number, symbol) = line.trim_start().split_once(": ")?;
    number.parse::<u32>().ok()?;
    Some(symbol)
}

/// True for a frame of the standard library, the async runtime or the panic machinery.
fn is_runtime(symbol: &str, at: Option<&str>) -> bool {
    const RUNTIME: [&str; 10] = [
        "std::",
        "core::",
        "alloc::",
        "tokio::",
        "__rustc",
        "rust_begin_unwind",
        "<std::",
        "<core::",
        "<alloc::",
        "<tokio::",
    ];
    RUNTIME.iter().any(|p| symbol.starts_with(p))
        || symbol.starts_with("__")
        || symbol == "main"
        || at.is_some_and(|at| at.contains("/rustc/") || at.contains("/.cargo/registry/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_follows_the_location() {
        let text = "listening\nthread '<unnamed>' (19475) panicked at src/servers.rs:191:49:\na read ends at a line end\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            panic_message(text).as_deref(),
            Some("panicked at src/servers.rs:191:49: a read ends at a line end")
        );
        assert_eq!(panic_message("no panic here"), None);
    }

    #[test]
    fn runtime_frames_fold_and_the_servers_own_stay() {
        let trace = [
            "stack backtrace:",
            "   0: __rustc::rust_begin_unwind",
            "             at /rustc/abc/library/std/src/panicking.rs:689:5",
            "   1: core::panicking::panic_fmt",
            "             at /rustc/abc/library/core/src/panicking.rs:80:14",
            "   2: myserver::parse",
            "             at ./src/lib.rs:104:33",
            "   3: tokio::runtime::task::harness::poll",
            "             at /root/.cargo/registry/src/tokio-1.45/src/runtime/task/harness.rs:1",
            "   4: std::thread::run",
        ];
        assert_eq!(
            fold_runtime_frames(&trace),
            [
                "stack backtrace:",
                "      … 2 frames of std, core and the runtime …",
                "   2: myserver::parse",
                "             at ./src/lib.rs:104:33",
                "      … 2 frames of std, core and the runtime …",
            ]
        );
    }
}

//! The guide: everything past the README's first steps, one chapter per module. The
//! chapters are the Markdown files of `docs/guide/` (readable on their own too), and every
//! Rust example in them is compiled as a doc test, so it keeps working when pasted into a
//! test of your crate (with the `[dev-dependencies]` each chapter states). The two examples
//! that start your crate's own binary (`env!("CARGO_BIN_EXE_myserver")`, which only a crate
//! with that binary defines) are marked `ignore` here; `scripts/paste-check` builds every
//! example in such a crate and runs those that are tests.
//!
//! 0. [`reading_a_report`]: a finding's report line by line, and every word of the stats
//!    line.
//! 1. [`writing_tests`]: the builder's settings, property tests, async tests, in-process
//!    servers.
//! 2. [`bugs`]: what counts as a bug, sanitizers, how chunks stay apart.
//! 3. [`narrowing`]: from a finding to the smallest case that replays it; regression files.
//! 4. [`blobs`]: where blobs come from: captures, imports, conversations.
//! 5. [`tls`]: servers behind TLS.
//! 6. [`clients`]: the client direction, answers cut into reads of their own.
//! 7. [`coverage`]: coverage-guided split search with libFuzzer or AFL.
//! 8. [`command_line`]: the command-line tool, long campaigns, troubleshooting, environment
//!    variables.
//! 9. [`platforms`]: what each operating system gives, and what stands in where it lacks.
//!
//! The measurements are in `BENCHMARKS.md`, the layers of the code in `ARCHITECTURE.md`.

#![allow(
    clippy::test_attr_in_doctest,
    reason = "examples show the #[test] a user writes; its body is a plain function, run there"
)]

// Examples written for a reader show plain functions that a test would call: here they
// may be unused.
#[doc = include_str!("../docs/guide/reading-a-report.md")]
pub mod reading_a_report {}

#[doc = include_str!("../docs/guide/writing-tests.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod writing_tests {}

#[doc = include_str!("../docs/guide/bugs.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod bugs {}

#[doc = include_str!("../docs/guide/narrowing.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod narrowing {}

#[doc = include_str!("../docs/guide/blobs.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod blobs {}

#[doc = include_str!("../docs/guide/tls.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod tls {}

#[doc = include_str!("../docs/guide/clients.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod clients {}

#[doc = include_str!("../docs/guide/coverage.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod coverage {}

#[doc = include_str!("../docs/guide/command-line.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod command_line {}

#[doc = include_str!("../docs/guide/platforms.md")]
#[doc(test(attr(allow(dead_code))))]
pub mod platforms {}

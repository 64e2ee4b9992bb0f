//! Coverage-guided split search: stutterfuzz as the body of a libFuzzer or AFL fuzz target.
//!
//! Random splits find most boundary bugs in seconds. A bug behind one boundary among
//! thousands of bytes, or behind a state that only a particular sequence of partial reads
//! reaches, may never show to them. A server that runs in the fuzzer's own process
//! ([`Stutter::serve`](crate::Stutter::serve)) is instrumented along with the fuzz target, so
//! the fuzzer sees which branches of the server's parser a split reaches and mutates the
//! splits that reached new ones.
//!
//! - [`case_of_input`] maps any byte string to a case, and small changes of the bytes to
//!   small changes of the case (the layout is in its module's docs);
//! - [`input_of_case`] maps a case string or regression line back, to seed the fuzzer;
//! - [`FuzzTarget`] (from [`Stutter::fuzz_target`](crate::Stutter::fuzz_target)) delivers
//!   each input to a server kept up across iterations and panics with the case string when
//!   it fails.
//!
//! The repository's `fuzz/` folder holds a target for a fixture server, and `scripts/fuzz`
//! builds and runs it with libFuzzer on a stable toolchain.

use std::path::PathBuf;

pub use crate::case::{
    InputError, MAX_SLOW_PAUSE_MS, MAX_SLOW_READS, case_of_input, input_of_case,
};
use crate::corpus::{Blob, Corpus};
use crate::error::SetupError;
pub use crate::run::FuzzTarget;

/// The blobs of these directories in the order inputs number them (by name, as a run loads
/// them): for converting inputs and cases outside a fuzz target.
///
/// # Errors
/// As loading blobs for a run: a missing or empty directory, an unreadable file.
pub fn blobs_in(dirs: &[PathBuf]) -> Result<Vec<Blob>, SetupError> {
    Ok(Corpus::load(dirs, &[])?.blobs().to_vec())
}

/// A file name for `input` in a fuzzer's corpus (`case-` and its FNV-1a hash): the same case
/// is written once, and different ones never overwrite each other.
pub fn input_file_name(input: &[u8]) -> String {
    format!("case-{:016x}", crate::rng::fnv1a(input))
}

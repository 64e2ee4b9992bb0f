//! Cases as fuzzer inputs: a coverage-guided fuzzer (libFuzzer, AFL) hands over byte strings
//! and mutates the ones that reached new code. Every byte string is a case here, and a small
//! change to the bytes is a small change to the case, so the fuzzer's mutations walk through
//! split patterns; and every case a run prints converts back, so case strings and regression
//! lines seed the fuzzer's corpus.
//!
//! The layout, in order:
//!
//! - 1 byte: which blob, as an index into the blobs in name order (modulo their number);
//! - 1 byte of flags: `0x01` closes the connection after the chunks listed (the rest of the
//!   blob is never sent), `0x02` reads the response slowly, with the schedule right after;
//!   other bits are ignored;
//! - with `0x02`: the slow reads' piece size, count and pause in milliseconds, three varints
//!   (the count at most [`MAX_SLOW_READS`], the pause modulo [`MAX_SLOW_PAUSE_MS`] + 1: as
//!   much as runs draw, 8 to 128 reads 1 to 3 ms apart, so every case a run prints is an
//!   input, and an input stays quick to deliver: thousands a second);
//! - the chunk sizes, each a varint of the size minus one (LEB128: seven bits a byte, the top
//!   bit set on every byte but the last), each cut to what is left of the blob. When the input
//!   runs out the rest of the blob is one last chunk, unless `0x01` is set.
//!
//! Pauses mid-message need a probe connection beside the case and are not part of an input;
//! a conversation waits as its blob file says, and TLS is the target's.

use std::fmt;
use std::time::Duration;

use super::{Case, SlowRead};
use crate::corpus::Blob;
use crate::split::Splits;

const CLOSE_EARLY: u8 = 0x01;
const SLOW: u8 = 0x02;

/// The most slow reads an input asks for (as many as runs draw).
pub const MAX_SLOW_READS: u32 = 128;
/// The longest pause between slow reads an input asks for, in milliseconds (as long as runs
/// draw).
pub const MAX_SLOW_PAUSE_MS: u64 = 3;

/// The case a fuzzer input stands for, among `blobs` (in name order); `None` when there are
/// no blobs.
pub fn case_of_input(input: &[u8], blobs: &[Blob]) -> Option<Case> {
    let mut bytes = input.iter().copied();
    let blob = blobs.get(usize::from(bytes.next().unwrap_or(0)) % blobs.len().max(1))?;
    let flags = bytes.next().unwrap_or(0);
    let slow = (flags & SLOW != 0).then(|| {
        let piece = varint(&mut bytes).unwrap_or(0);
        let pieces = varint(&mut bytes).unwrap_or(0);
        let pause = varint(&mut bytes).unwrap_or(0);
        SlowRead::new(
            usize::try_from(piece).unwrap_or(usize::MAX),
            u32::try_from(pieces.min(u64::from(MAX_SLOW_READS))).unwrap_or(MAX_SLOW_READS),
            Duration::from_millis(pause % (MAX_SLOW_PAUSE_MS + 1)),
        )
    });
    let mut left = blob.len();
    let mut chunks = Vec::new();
    while left > 0 {
        let Some(size) = varint(&mut bytes) else {
            break;
        };
        let size = usize::try_from(size.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(left);
        chunks.push(size);
        left -= size;
    }
    if flags & CLOSE_EARLY == 0 && left > 0 {
        chunks.push(left);
    }
    let splits = Splits::new(chunks).unwrap_or_default();
    Some(
        Case::new(blob.name(), splits)
            .with_slow_read(slow)
            .with_waits(blob.waits()),
    )
}

/// Why a case has no fuzzer input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// The fuzzer input of `case`, among `blobs` (in name order). A pause mid-message is left
/// out (an input has none); a case whose blob is missing or too short has no input.
pub fn input_of_case(case: &Case, blobs: &[Blob]) -> Result<Vec<u8>, InputError> {
    let error = |message: String| InputError { message };
    let index = blobs
        .iter()
        .position(|b| b.name() == case.blob())
        .ok_or_else(|| {
            error(format!(
                "no blob is named {:?}: convert with the blob directory the case was found with",
                case.blob()
            ))
        })?;
    let index = u8::try_from(index).map_err(|_| {
        error(format!(
            "blob {:?} is number {} in name order; an input names one of the first 256",
            case.blob(),
            index + 1
        ))
    })?;
    let blob = &blobs[usize::from(index)];
    let splits = case.splits();
    if splits.total() > blob.len() {
        return Err(error(format!(
            "its chunks add up to {} bytes but blob {:?} has {}",
            splits.total(),
            case.blob(),
            blob.len()
        )));
    }
    if let Some(slow) = case.slow()
        && (slow.pieces() > MAX_SLOW_READS || slow.pause().as_millis() > MAX_SLOW_PAUSE_MS.into())
    {
        return Err(error(format!(
            "its slow reads ({slow}) are more than an input asks for: at most {MAX_SLOW_READS} reads, {MAX_SLOW_PAUSE_MS} ms apart"
        )));
    }
    let close_early = splits.total() < blob.len();
    let mut flags = 0;
    if close_early {
        flags |= CLOSE_EARLY;
    }
    if case.slow().is_some() {
        flags |= SLOW;
    }
    let mut input = vec![index, flags];
    if let Some(slow) = case.slow() {
        put_varint(&mut input, slow.piece() as u64);
        put_varint(&mut input, u64::from(slow.pieces()));
        put_varint(&mut input, slow.pause().as_millis() as u64);
    }
    // Without early close the last chunk is implied: the rest of the blob.
    let listed = if close_early {
        splits.chunks()
    } else {
        &splits.chunks()[..splits.len().saturating_sub(1)]
    };
    for &size in listed {
        put_varint(&mut input, size as u64 - 1);
    }
    Ok(input)
}

/// The next LEB128 varint; `None` when the input has ended. An input that ends inside a
/// varint ends it there; bits past 64 are dropped.
fn varint(bytes: &mut impl Iterator<Item = u8>) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.enumerate() {
        if i < 10 {
            value |= u64::from(byte & 0x7f) << (7 * i);
        }
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    (value > 0).then_some(value)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blobs() -> Vec<Blob> {
        vec![
            Blob::new("a-ping", "PING\r\n"),
            Blob::new("b-big", vec![b'x'; 1000]),
        ]
    }

    #[test]
    fn bytes_name_the_blob_the_chunks_and_the_manner() {
        let blobs = blobs();
        let case = |input: &[u8]| case_of_input(input, &blobs).unwrap().to_string();
        assert_eq!(case(b""), "v1:a-ping:6", "nothing: the first blob, whole");
        assert_eq!(case(&[1]), "v1:b-big:1000");
        assert_eq!(case(&[2, 0, 0, 2]), "v1:a-ping:1,3,2", "the index wraps");
        assert_eq!(case(&[0, 1, 0, 2]), "v1:a-ping:1,3", "closed early");
        assert_eq!(
            case(&[0, 0, 9]),
            "v1:a-ping:6",
            "a chunk is cut to what is left"
        );
        assert_eq!(
            case(&[1, 0, 0xe7, 0x05]),
            "v1:b-big:744,256",
            "a two-byte varint"
        );
        assert_eq!(case(&[0, 2, 0x40, 8, 2, 0]), "v1:a-ping:1,5;slow=64x8@2ms");
        assert!(case_of_input(b"x", &[]).is_none(), "no blobs, no case");
    }

    #[test]
    fn a_case_that_cannot_be_an_input_says_why() {
        let blobs = blobs();
        let missing: Case = "v1:gone:1,1".parse().unwrap();
        let err = input_of_case(&missing, &blobs).unwrap_err().to_string();
        assert!(err.starts_with("no blob is named \"gone\""), "{err}");
        let slow: Case = "v1:a-ping:6;slow=64x8@50ms".parse().unwrap();
        let err = input_of_case(&slow, &blobs).unwrap_err().to_string();
        assert!(err.contains("at most 128 reads, 3 ms apart"), "{err}");
        let long: Case = "v1:a-ping:4,4".parse().unwrap();
        let err = input_of_case(&long, &blobs).unwrap_err().to_string();
        assert!(
            err.contains("add up to 8 bytes but blob \"a-ping\" has 6"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn every_input_is_a_case_that_fits_its_blob(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            let blobs = blobs();
            let case = case_of_input(&input, &blobs).unwrap();
            let blob = blobs.iter().find(|b| b.name() == case.blob()).unwrap();
            prop_assert!(case.splits().total() <= blob.len());
            // Converted back, the input stands for the same case.
            let again = input_of_case(&case, &blobs).unwrap();
            prop_assert_eq!(case_of_input(&again, &blobs).unwrap(), case);
        }

        #[test]
        fn every_case_converts_to_an_input_and_back(
            blob in 0usize..2,
            chunks in proptest::collection::vec(1usize..300, 1..20),
            close_early in any::<bool>(),
            slow in proptest::option::of((1usize..1 << 20, 1u32..=MAX_SLOW_READS, 0u64..=MAX_SLOW_PAUSE_MS)),
        ) {
            let blobs = blobs();
            let len = blobs[blob].len();
            let mut sizes = Vec::new();
            let mut left = len;
            for c in chunks {
                if left == 0 { break; }
                let c = c.min(left);
                sizes.push(c);
                left -= c;
            }
            if !close_early && left > 0 {
                sizes.push(left);
            }
            let slow = slow.map(|(p, n, ms)| SlowRead::new(p, n, Duration::from_millis(ms)));
            let case = Case::new(blobs[blob].name(), Splits::new(sizes).unwrap()).with_slow_read(slow);
            let input = input_of_case(&case, &blobs).unwrap();
            prop_assert_eq!(case_of_input(&input, &blobs).unwrap(), case);
        }
    }
}

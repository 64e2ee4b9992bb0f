//! The [`Splits`] type: chunk sizes, displayed and parsed as `[3, 1, 19]`.

use std::fmt;
use std::str::FromStr;

/// A split pattern: the sizes of the chunks a blob is sent in, in order.
///
/// Every chunk is at least one byte. When the sizes add up to less than the blob's length,
/// the connection was closed early after the last chunk.
///
/// ```
/// use stutterfuzz::Splits;
///
/// let splits: Splits = "[3, 1, 19]".parse()?;
/// assert_eq!(splits.chunks(), &[3, 1, 19]);
/// assert_eq!(splits.total(), 23);
/// assert_eq!(splits.boundaries().collect::<Vec<_>>(), [3, 4]);
/// assert_eq!(splits.to_string(), "[3, 1, 19]");
/// # Ok::<(), stutterfuzz::ParseSplitsError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Splits(Vec<usize>);

impl Splits {
    /// A pattern with these chunk sizes; `None` if any is zero (a zero-byte write sends
    /// nothing, so it cannot be a chunk).
    pub fn new(chunks: Vec<usize>) -> Option<Self> {
        chunks.iter().all(|&c| c > 0).then_some(Splits(chunks))
    }

    /// One chunk holding all `len` bytes (no chunk at all for an empty blob).
    pub fn whole(len: usize) -> Self {
        Splits(if len == 0 { Vec::new() } else { vec![len] })
    }

    /// The chunk sizes, in order.
    pub fn chunks(&self) -> &[usize] {
        &self.0
    }

    /// The number of chunks.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no chunk: nothing is sent.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of bytes sent in all.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// The offsets inside the sent bytes where one chunk ends and the next begins.
    pub fn boundaries(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.0.len().saturating_sub(1);
        self.0[..n].iter().scan(0, |offset, &c| {
            *offset += c;
            Some(*offset)
        })
    }

    /// The same chunks with a boundary at offset `at` too (the chunk holding it cut in two);
    /// unchanged when `at` already is a boundary or is not inside the sent bytes.
    pub fn with_boundary(&self, at: usize) -> Splits {
        let mut chunks = Vec::with_capacity(self.0.len() + 1);
        let mut offset = 0;
        for &c in &self.0 {
            if offset < at && at < offset + c {
                chunks.extend([at - offset, offset + c - at]);
            } else {
                chunks.push(c);
            }
            offset += c;
        }
        Splits(chunks)
    }

    /// The chunks as byte ranges of `bytes` (which must hold at least [`total`](Self::total)
    /// bytes).
    pub(crate) fn cut<'a>(&'a self, bytes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.iter().scan(0, move |offset, &c| {
            let chunk = &bytes[*offset..*offset + c];
            *offset += c;
            Some(chunk)
        })
    }

    /// Writes the sizes as `3,1,19` (`-` for none): the form used inside case strings.
    pub(crate) fn compact(&self) -> String {
        if self.0.is_empty() {
            return "-".to_owned();
        }
        let sizes: Vec<String> = self.0.iter().map(usize::to_string).collect();
        sizes.join(",")
    }
}

impl fmt::Display for Splits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("]")
    }
}

/// Why a split pattern did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSplitsError {
    input: String,
}

impl fmt::Display for ParseSplitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a split pattern: expected chunk sizes of at least 1 such as [3, 1, 19] or 3,1,19",
            self.input
        )
    }
}

impl std::error::Error for ParseSplitsError {}

impl FromStr for Splits {
    type Err = ParseSplitsError;

    /// Parses `[3, 1, 19]`, `3,1,19`, `[]` or `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseSplitsError {
            input: s.to_owned(),
        };
        let t = s.trim();
        let inner = match t.strip_prefix('[') {
            Some(rest) => rest.strip_suffix(']').ok_or_else(err)?,
            None => t,
        };
        let inner = inner.trim();
        if inner.is_empty() || inner == "-" {
            return Ok(Splits(Vec::new()));
        }
        let chunks = inner
            .split(',')
            .map(|part| part.trim().parse::<usize>().map_err(|_| err()))
            .collect::<Result<Vec<_>, _>>()?;
        Splits::new(chunks).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for text in ["[]", "[5]", "[3, 1, 19]"] {
            let splits: Splits = text.parse().unwrap();
            assert_eq!(splits.to_string(), text);
            assert_eq!(splits.compact().parse::<Splits>().unwrap(), splits);
        }
        assert_eq!(" 3, 1,19 ".parse::<Splits>().unwrap().chunks(), &[3, 1, 19]);
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for text in ["[3, 0]", "[3, 1", "a,b", "3,,1", "-1"] {
            assert!(text.parse::<Splits>().is_err(), "{text}");
        }
        assert!(Splits::new(vec![1, 0]).is_none());
    }

    #[test]
    fn cut_yields_the_chunks_in_order() {
        let splits: Splits = "2,3".parse().unwrap();
        let parts: Vec<&[u8]> = splits.cut(b"hello world").collect();
        assert_eq!(parts, [&b"he"[..], &b"llo"[..]]);
        assert_eq!(Splits::whole(0).len(), 0);
        assert_eq!(Splits::whole(4).chunks(), &[4]);
    }

    #[test]
    fn a_boundary_is_added_by_cutting_the_chunk_that_holds_it() {
        let splits: Splits = "5,5".parse().unwrap();
        assert_eq!(splits.with_boundary(2).chunks(), &[2, 3, 5]);
        assert_eq!(splits.with_boundary(5), splits, "already a boundary");
        assert_eq!(splits.with_boundary(0), splits);
        assert_eq!(splits.with_boundary(10), splits, "the end is no boundary");
        assert_eq!(splits.with_boundary(12), splits);
    }
}

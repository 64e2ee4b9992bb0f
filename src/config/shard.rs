//! Shards: one long run split across machines. Shard `k` of `n` delivers rounds `k-1`,
//! `k-1+n`, `k-1+2n`… of the same seed, so with one seed the shards never repeat each
//! other's cases, and together they are the run a single machine would make.

use std::fmt;
use std::str::FromStr;

/// Shard `k` of `n` (`k` from 1), written `k/n` as cargo-nextest's `--partition count:k/n`.
///
/// ```
/// use stutterfuzz::Shard;
///
/// let shard: Shard = "2/4".parse()?;
/// assert_eq!((shard.number(), shard.count()), (2, 4));
/// assert_eq!(shard.round(0), 1);
/// assert_eq!(shard.round(1), 5);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    number: u64,
    count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            number: 1,
            count: 1,
        }
    }
}

impl Shard {
    /// Shard `number` of `count`; an error that says what is wrong unless
    /// `1 <= number <= count`.
    pub fn new(number: u64, count: u64) -> Result<Self, String> {
        if count == 0 || number == 0 || number > count {
            return Err(format!(
                "shard {number}/{count}: the shard number must be from 1 to the count, as in 1/{}",
                count.max(1)
            ));
        }
        Ok(Shard { number, count })
    }

    /// Which shard, from 1.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// How many shards in all.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The round of the whole run that this shard's `n`-th round is (from 0).
    pub fn round(&self, n: u64) -> u64 {
        n.saturating_mul(self.count).saturating_add(self.number - 1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (number, count) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a shard: write NUMBER/COUNT, such as 2/4"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?} is not a shard: write NUMBER/COUNT, such as 2/4"))
        };
        Shard::new(parse(number)?, parse(count)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_every_nth_round_and_together_take_them_all() {
        let mut all: Vec<u64> = (1..=3)
            .flat_map(|k| {
                let shard = Shard::new(k, 3).unwrap();
                (0..4).map(move |n| shard.round(n))
            })
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        assert_eq!(Shard::default().round(7), 7);
    }

    #[test]
    fn bad_shards_say_what_to_write() {
        for text in ["0/3", "4/3", "1/0", "x/3", "2"] {
            let err = text.parse::<Shard>().unwrap_err();
            assert!(err.contains("1/") || err.contains("2/4"), "{text}: {err}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap().to_string(), "2/4");
    }
}

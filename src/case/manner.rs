//! How a delivery behaves besides its chunks: a pause mid-message ([`Stall`]) and a slow
//! reader ([`SlowRead`]). Each decides what the server sees as much as the chunks do, so each
//! is part of the case and of its string (`;stall=AT@MSms`, `;slow=PIECExCOUNT@MSms`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A pause in the middle of a delivery: after the first `at` bytes, the connection waits
/// `pause` before it sends the rest, while a probe connection checks that the server still
/// serves other clients.
///
/// ```
/// use std::time::Duration;
/// use stutterfuzz::Case;
///
/// let case: Case = "v1:set-get.txt:3,1,19;stall=4@1000ms".parse()?;
/// let stall = case.stall().unwrap();
/// assert_eq!((stall.at(), stall.time()), (4, Duration::from_secs(1)));
/// # Ok::<(), stutterfuzz::ParseCaseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stall {
    at: usize,
    pause: Duration,
}

impl Stall {
    /// A pause of `pause` after the first `at` bytes.
    pub fn new(at: usize, pause: Duration) -> Self {
        Stall { at, pause }
    }

    /// How many bytes go out before the pause.
    pub fn at(&self) -> usize {
        self.at
    }

    /// How long the stall lasts: the connection pauses this long.
    pub fn time(&self) -> Duration {
        self.pause
    }

    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "renamed `time`, as `Disruptions::stall_time`")]
    pub fn pause(&self) -> Duration {
        self.time()
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}ms", self.at, self.pause.as_millis())
    }
}

impl FromStr for Stall {
    type Err = ();

    /// Parses `AT@MSms`, as in a case string's `;stall=` field.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (at, ms) = s.split_once('@').ok_or(())?;
        let ms = ms.strip_suffix("ms").ok_or(())?;
        let at = at.parse().map_err(|_| ())?;
        let ms: u64 = ms.parse().map_err(|_| ())?;
        (at > 0 && ms > 0)
            .then(|| Stall::new(at, Duration::from_millis(ms)))
            .ok_or(())
    }
}

/// A slow reader: the connection asks the kernel for a small receive buffer and a small
/// segment size before it connects, then reads the response `piece` bytes at a time, `pieces`
/// times, pausing `pause` before each read after the first (then the rest at full speed). The
/// server's `write()` then comes up short, or fails with `EAGAIN`, at varying points.
///
/// ```
/// use std::time::Duration;
/// use stutterfuzz::Case;
///
/// let case: Case = "v1:big.txt:5,20;slow=512x64@2ms".parse()?;
/// let slow = case.slow().unwrap();
/// assert_eq!((slow.piece(), slow.pieces(), slow.pause()), (512, 64, Duration::from_millis(2)));
/// # Ok::<(), stutterfuzz::ParseCaseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlowRead {
    piece: usize,
    pieces: u32,
    pause: Duration,
}

impl SlowRead {
    /// Reads of at most `piece` bytes, `pieces` of them, `pause` apart.
    pub fn new(piece: usize, pieces: u32, pause: Duration) -> Self {
        SlowRead {
            piece: piece.max(1),
            pieces: pieces.max(1),
            pause,
        }
    }

    /// The most bytes one slow read takes.
    pub fn piece(&self) -> usize {
        self.piece
    }

    /// How many slow reads there are before the rest is read at full speed.
    pub fn pieces(&self) -> u32 {
        self.pieces
    }

    /// The pause before each slow read after the first.
    pub fn pause(&self) -> Duration {
        self.pause
    }

    /// The longest the slow reads can add to a delivery.
    pub(crate) fn span(&self) -> Duration {
        self.pause * self.pieces
    }

    /// Gentler schedules that may still fail, for shrinking, the gentlest first: one large
    /// read (the small window alone), then fewer reads, larger reads, shorter pauses.
    pub(crate) fn gentler(&self) -> Vec<SlowRead> {
        let gentlest = SlowRead::new(1 << 20, 1, Duration::from_millis(1));
        let mut out = Vec::new();
        if *self != gentlest {
            out.push(gentlest);
        }
        if self.pieces > 1 {
            out.push(SlowRead::new(self.piece, self.pieces / 2, self.pause));
        }
        if self.piece < 1 << 20 && self.pieces > 1 {
            out.push(SlowRead::new(self.piece * 2, self.pieces, self.pause));
        }
        if self.pause > Duration::from_millis(1) {
            out.push(SlowRead::new(self.piece, self.pieces, self.pause / 2));
        }
        out
    }
}

impl fmt::Display for SlowRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}@{}ms",
            self.piece,
            self.pieces,
            self.pause.as_millis()
        )
    }
}

impl FromStr for SlowRead {
    type Err = ();

    /// Parses `PIECExCOUNT@MSms`, as in a case string's `;slow=` field.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (sizes, ms) = s.split_once('@').ok_or(())?;
        let (piece, pieces) = sizes.split_once('x').ok_or(())?;
        let ms: u64 = ms.strip_suffix("ms").ok_or(())?.parse().map_err(|_| ())?;
        let piece: usize = piece.parse().map_err(|_| ())?;
        let pieces: u32 = pieces.parse().map_err(|_| ())?;
        (piece > 0 && pieces > 0)
            .then(|| SlowRead::new(piece, pieces, Duration::from_millis(ms)))
            .ok_or(())
    }
}

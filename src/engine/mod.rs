//! The delivery engine: many connections at once, each sending one blob in the chunks its
//! case says, paced so the server reads every chunk on its own.
//!
//! - [`connection`]: one delivery on its own connection (connect, send, read the answer);
//! - [`pacing`]: what happens between two chunks (the only place that sleeps to pace);
//! - [`mod@fuzz`]: the run loop, `connections` deliveries in flight, one tokio task each;
//! - [`intake`]: one finished delivery counted, recorded and judged, for the run loop;
//! - [`book`]: the run loop's bookkeeping, which cases were in flight when a bug showed;
//! - [`confirm`]: a differing response delivered again alone before it counts;
//! - [`sending`]: a delivery's sending half, chunk by chunk, paced;
//! - [`socket`]: a connected socket as a delivery uses it, plain or TLS;
//! - [`turns`]: a conversation's waits for the server between its parts;
//! - [`reads`]: whether the server still reads at all;
//! - [`stall`]: a pause mid-message, and the probe that checks the others are served;
//! - [`whole`]: every blob sent whole, once, for the response baselines.
//!
//! The engine asks the oracles whether what it saw is a bug; it never decides that itself.

mod accepts;
mod book;
mod confirm;
mod connection;
pub(crate) mod exit_waits;
mod fuzz_loop;
mod intake;
mod pacing;
mod queue;
mod reads;
mod seen;
mod sending;
mod server_frames;
mod socket;
mod stall;
mod stop_time;
mod turns;
mod whole;
mod window;

use std::time::Duration;

use tokio::time::Instant;

pub(crate) use confirm::{ALONE_FACTOR, ALONE_FLOOR, ROUNDS};
pub(crate) use connection::{Connection, Delivered, Progress};
pub(crate) use exit_waits::{EXIT_GRACE, FINAL_SETTLE, exit_within};
pub(crate) use fuzz_loop::{Fuzzing, fuzz};
pub(crate) use pacing::{Ends, Pacing};
pub(crate) use seen::{Seen, Stood};
pub(crate) use socket::{
    Opened, Reader, SocketFd, Stream, Writer, connect_unix, halves, open as open_stream,
};
pub(crate) use whole::deliver_whole;

use crate::case::{Drawn, draw};
use crate::config::{Endpoint, Settings};
use crate::corpus::{Blob, Corpus, tls_at};
use crate::error::SetupError;
use crate::oracle::FindingKind;
use crate::stats::Stats;
use crate::tls::Tls;
use crate::wire::Listen;

/// How long a connection that half-closed waits for the server's answer or close.
const RESPONSE_WINDOW: Duration = Duration::from_millis(50);

/// A bug found by the engine, before the run layer adds the server's output and the rerun
/// line.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) kind: FindingKind,
    pub(crate) seen: Vec<Seen>,
    pub(crate) stats: Stats,
}

/// Why the engine stopped.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once, when a run stops; boxing would only add an allocation"
)]
pub(crate) enum Stopped {
    Found(Found),
    Setup(SetupError),
}

/// How each connection delivers: everything but the case itself.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    pub(crate) addr: Endpoint,
    pub(crate) connect_timeout: Duration,
    pub(crate) pacing: Pacing,
    /// Half-close mode's wait for the server's answer or close.
    pub(crate) linger: Duration,
    /// TLS over each connection, when the server speaks it.
    pub(crate) tls: Option<Tls>,
    /// TLS starts only where a conversation marks it (`#~ tls`): a blob without a mark
    /// stays plain.
    tls_at_marks: bool,
    /// The pacing of a connection that starts TLS mid-way (over TCP: by acknowledgement, as
    /// under TLS from the first byte).
    upgrading: Pacing,
}

impl Transport {
    /// How a run with these settings reaches the server at `addr`.
    pub(crate) fn new(addr: Endpoint, settings: &Settings, tls: Option<Tls>) -> Self {
        let acked = Pacing::new(settings.gap, settings.connect_timeout);
        let pacing = match (&addr, &tls) {
            // A Unix socket's own queue tells when the server read each chunk, records or
            // not.
            (Endpoint::Unix(_), _) if crate::platform::SEES_OWN_QUEUE => {
                acked.clone().by_own_queue()
            }
            (Endpoint::Unix(_), _) => acked.clone(),
            (Endpoint::Tcp(_), None) => acked.clone().by_receipt(),
            // Over TLS the server's end counts records, not the bytes we count: there the
            // acknowledgement tells when a chunk arrived.
            (Endpoint::Tcp(_), Some(_)) => acked.clone(),
        };
        // So too once TLS starts mid-way.
        let upgrading = match &addr {
            Endpoint::Tcp(_) => acked,
            Endpoint::Unix(_) => pacing.clone(),
        };
        Transport {
            addr,
            connect_timeout: settings.connect_timeout,
            pacing,
            linger: settings.after_last.unwrap_or(RESPONSE_WINDOW),
            tls,
            tls_at_marks: settings.tls_at_marks,
            upgrading,
        }
    }

    /// Where deliveries go, as reports show it: the address, and TLS if they speak it (from the
    /// first byte, or where conversations mark it).
    pub(crate) fn describe(&self) -> String {
        match &self.tls {
            Some(tls) if self.tls_at_marks => format!(
                "{}, STARTTLS at each `#~ tls` mark ({})",
                self.addr,
                tls.describe()
            ),
            Some(tls) => format!("{} over {}", self.addr, tls.describe()),
            None => self.addr.to_string(),
        }
    }

    /// The connection that delivers `drawn` (a case of `blob`), listening as `listen` says.
    pub(crate) fn connection(&self, blob: &Blob, drawn: &Drawn, listen: Listen) -> Connection {
        // Every wait of a conversation is a boundary too.
        let splits = blob
            .waits()
            .iter()
            .fold(drawn.case.splits().clone(), |splits, wait| {
                splits.with_boundary(wait.at)
            });
        // A blob that marks where TLS starts starts it there; one that does not, from its
        // first byte, unless the run's TLS starts only at marks.
        let marked = tls_at(blob.waits()).is_some();
        let (tls, upgrade, pacing) = match marked {
            true => (None, self.tls.clone(), &self.upgrading),
            false if self.tls_at_marks => (None, None, &self.pacing),
            false => (self.tls.clone(), None, &self.pacing),
        };
        Connection {
            addr: self.addr.clone(),
            bytes: blob.shared_bytes(),
            waits: blob.shared_waits(),
            splits,
            fastopen: drawn.fastopen,
            connect_timeout: self.connect_timeout,
            pacing: pacing.clone(),
            listen,
            stall: drawn.case.stall(),
            slow: drawn.case.slow(),
            tls,
            upgrade,
        }
    }
}

/// Every case of the run, in order: round by round, each blob once per round (a shard's
/// rounds: see [`Shard`](crate::Shard)).
pub(crate) fn schedule<'a>(
    corpus: &'a Corpus,
    settings: &'a Settings,
) -> impl Iterator<Item = (&'a Blob, Drawn)> + 'a {
    let rounds = settings.cycles.unwrap_or(u64::MAX);
    (0..rounds).flat_map(move |n| {
        // A shard's rounds are its share of the whole run's: each draws its own cases.
        let round = settings.shard.round(n);
        corpus
            .blobs()
            .iter()
            .map(move |blob| (blob, draw(blob, round, settings.drawing())))
    })
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

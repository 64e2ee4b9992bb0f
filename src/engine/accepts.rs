//! Whether the server accepts when nothing else is in flight: what tells a server slow to
//! accept under the run's own load (a small listen queue, a busy accept loop) from one that
//! stopped accepting. A connect that timed out with a hundred connections in flight says
//! the first as often as the second; one fresh connect, with the others done, tells them
//! apart.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::book::Book;
use super::pacing::Ends;
use super::socket::{self, Stream};
use super::window::Window;
use super::{EXIT_GRACE, Fuzzing, Stopped, Transport, exit_within};
use crate::oracle;
use crate::wire::ConnectError;

/// How often the probe asks the kernel whether the server took its connection.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// Connects to the server once, alone, and waits up to `limit` for it to accept the
/// connection: how long that took, or why it did not. Where the server's end cannot be seen
/// (a server elsewhere), a completed connect counts as accepted. Nothing is sent.
pub(crate) async fn accepts_when_idle(
    transport: &Transport,
    limit: Duration,
) -> Result<Duration, ConnectError> {
    let started = Instant::now();
    let deadline = started + limit;
    let stream = socket::connect(&transport.addr, limit).await?;
    // On a Unix socket the accept cannot be seen: a completed connect counts.
    let Stream::Tcp(stream) = stream else {
        return Ok(started.elapsed());
    };
    let mut ends = stream
        .local_addr()
        .ok()
        .zip(transport.addr.tcp())
        .map(|(client, server)| Ends { server, client });
    loop {
        match transport.pacing.look(&mut ends) {
            Some(seen) if !seen.accepted => {}
            // Accepted, or not to be seen from here.
            _ => return Ok(started.elapsed()),
        }
        if Instant::now() >= deadline {
            return Err(ConnectError::TimedOut(limit));
        }
        sleep(LOOK_EVERY).await;
    }
}

/// Connects that timed out beside other deliveries, while the run drains: none starts until
/// the server is seen to accept alone.
#[derive(Debug, Default)]
pub(super) struct Crowd {
    timeouts: u64,
    /// The most deliveries in flight when one timed out.
    in_flight: usize,
}

impl Crowd {
    /// One more connect timed out, with `in_flight` deliveries in flight.
    pub(super) fn add(&mut self, in_flight: usize) {
        self.timeouts += 1;
        self.in_flight = self.in_flight.max(in_flight);
    }

    /// With the run drained: a server that accepts alone within the startup timeout was slow
    /// under the run's load, and the run goes on with half as many connections, said in the
    /// stats; one that does not has stopped accepting, a finding.
    pub(super) async fn drained<'a>(
        self,
        run: &mut Fuzzing<'a>,
        book: &mut Book<'a>,
        window: &mut Window,
    ) -> Result<(), Stopped> {
        match accepts_when_idle(&run.transport, run.settings.startup_timeout).await {
            Ok(took) => {
                let connections = window.lower(self.in_flight);
                book.stats.slow_accepts(
                    self.timeouts,
                    run.transport.connect_timeout,
                    self.in_flight,
                    took,
                    connections,
                );
                Ok(())
            }
            Err(error) => {
                if let Some(exit) = exit_within(run.server.as_deref_mut(), EXIT_GRACE).await {
                    return Err(Stopped::Found(book.found(oracle::exited(exit))));
                }
                let unread_since = run.transport.pacing.unread_since();
                Err(
                    match oracle::connect_failed_during_run(error, unread_since, true) {
                        Ok(kind) => Stopped::Found(book.found(kind)),
                        Err(setup) => Stopped::Setup(setup),
                    },
                )
            }
        }
    }
}

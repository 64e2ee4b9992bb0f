//! What the first connection of a whole run carried each way, and the cases drawn over it:
//! every case of a run cuts those bytes, so how they are read (a server's answers, whose
//! frames open otherwise than a client's) is decided here, once, for drawing and narrowing.

use super::case::ClientCase;
use super::plan::Settings;
use crate::split::{Shape, generate};

/// What the first connection of a whole run carried, each way.
pub(super) struct Streams {
    pub(super) answers: Vec<u8>,
    pub(super) requests: Vec<u8>,
}

impl Streams {
    /// The answers as cases are drawn and narrowed over them: a server's bytes, whose frames
    /// (an HTTP/2 server's from its SETTINGS, a WebSocket server's after its `101`) are cut
    /// inside their headers.
    pub(super) fn answers_shape(&self) -> Shape<'_> {
        Shape::answers(&self.answers)
    }

    /// The client's requests, as they are cut on their way to a real server.
    pub(super) fn requests_shape(&self) -> Shape<'_> {
        Shape::plain(&self.requests)
    }

    /// The case of run `iteration` of `source`: the answers cut as drawn over the whole
    /// answers' bytes, and the client's requests over its own, when they are cut too.
    pub(super) fn draw(&self, settings: &Settings, source: &str, iteration: u64) -> ClientCase {
        let mut rng = settings.seed.case_rng(source, iteration);
        let shape = self.answers_shape();
        let answers = generate(settings.mode, shape, iteration, 0, &mut rng);
        let case = ClientCase::new(source, answers);
        if !settings.split_requests || self.requests.is_empty() {
            return case;
        }
        let mut rng = settings
            .seed
            .case_rng(&format!("{source};requests"), iteration);
        let requests = generate(settings.mode, self.requests_shape(), iteration, 0, &mut rng);
        case.with_requests(requests)
    }
}

//! A client case: which answers, and where they were cut. Its text form, `c1:SOURCE:SIZES`,
//! is what a report prints and `STUTTERFUZZ_REPLAY` takes: SOURCE is the recorded
//! conversation the stand-in answered with, or `upstream` for a real server; SIZES are the
//! chunks the server's answers (all answers of a connection, as one stream) reached the
//! client in, the last chunk taking whatever more came. The `c` says the server-to-client
//! direction was split; server cases (`v1:`, `v2:`) keep their form. When the client's own
//! bytes were cut on their way to the server too, `;requests=SIZES` says how.

use std::fmt;
use std::str::FromStr;

use crate::split::Splits;

use crate::case::CLIENT_VERSION as VERSION;

/// What [`ClientCase::source`] is for answers relayed from a real server.
pub(crate) const UPSTREAM: &str = "upstream";

/// One delivery of answers to a client: from where, cut how.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientCase {
    source: String,
    answers: Splits,
    requests: Option<Splits>,
}

impl ClientCase {
    /// The answers of `source` (a recorded conversation's name, or `upstream`) cut into
    /// `answers`.
    pub fn new(source: impl Into<String>, answers: Splits) -> Self {
        ClientCase {
            source: source.into(),
            answers,
            requests: None,
        }
    }

    /// The same, with the answers cut into `answers`.
    pub(crate) fn with_answers(mut self, answers: Splits) -> Self {
        self.answers = answers;
        self
    }

    /// The same, with the client's bytes cut into `requests` on their way to the server.
    pub fn with_requests(mut self, requests: Splits) -> Self {
        self.requests = Some(requests).filter(|r| !r.is_empty());
        self
    }

    /// The chunks the client's bytes reached the server in, when they were cut.
    pub fn requests(&self) -> Option<&Splits> {
        self.requests.as_ref()
    }

    /// The recorded conversation the stand-in answered with, or `upstream`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The chunks the answers reached the client in.
    pub fn answers(&self) -> &Splits {
        &self.answers
    }

    /// The offsets where the answers are cut: every chunk's end but the last's.
    pub(crate) fn cuts(&self) -> Vec<usize> {
        self.answers.boundaries().collect()
    }

    /// The offsets where the client's bytes are cut (none when they go as they come).
    pub(crate) fn request_cuts(&self) -> Vec<usize> {
        self.requests
            .as_ref()
            .map_or_else(Vec::new, |r| r.boundaries().collect())
    }
}

impl fmt::Display for ClientCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VERSION}:{}:{}", self.source, self.answers.compact())?;
        if let Some(requests) = &self.requests {
            write!(f, ";requests={}", requests.compact())?;
        }
        Ok(())
    }
}

/// Why a client case string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseClientCaseError {
    input: String,
}

impl fmt::Display for ParseClientCaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a client case: expected the form c1:SOURCE:SIZES (with ;requests=SIZES when the client's bytes were cut too) as printed in a report, such as c1:upstream:1,6 (SOURCE is a recorded conversation's name or `upstream`)",
            self.input
        )
    }
}

impl std::error::Error for ParseClientCaseError {}

impl FromStr for ClientCase {
    type Err = ParseClientCaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseClientCaseError {
            input: s.to_owned(),
        };
        let rest = s
            .trim()
            .strip_prefix(VERSION)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(err)?;
        let (source, sizes) = rest.rsplit_once(':').ok_or_else(err)?;
        if source.is_empty() {
            return Err(err());
        }
        let (sizes, requests) = match sizes.split_once(';') {
            Some((sizes, field)) => (
                sizes,
                Some(field.strip_prefix("requests=").ok_or_else(err)?),
            ),
            None => (sizes, None),
        };
        let answers: Splits = sizes.parse().map_err(|_| err())?;
        if answers.is_empty() {
            return Err(err());
        }
        let mut case = ClientCase::new(source, answers);
        if let Some(requests) = requests {
            let requests: Splits = requests.parse().map_err(|_| err())?;
            if requests.is_empty() {
                return Err(err());
            }
            case = case.with_requests(requests);
        }
        Ok(case)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_case_reads_back_what_it_prints() {
        let case = ClientCase::new("get:1.resp", Splits::new(vec![1, 1, 1, 4]).unwrap());
        let text = case.to_string();
        assert!(text.starts_with("c1:get:1.resp:"), "{text}");
        assert_eq!(text.parse::<ClientCase>().unwrap(), case);
        assert_eq!(case.cuts(), [1, 2, 3]);
        let both = case.clone().with_requests(Splits::new(vec![2, 5]).unwrap());
        assert_eq!(both.to_string(), "c1:get:1.resp:1,1,1,4;requests=2,5");
        assert_eq!(both.to_string().parse::<ClientCase>().unwrap(), both);
        assert_eq!(both.request_cuts(), [2]);
        for bad in [
            "v1:ping.txt:1,2",
            "c1::1,2",
            "c1:upstream:",
            "c1:upstream:0,2",
            "c1:upstream:1,2;tls",
            "c1:upstream:1,2;requests=",
        ] {
            let err = bad.parse::<ClientCase>().unwrap_err().to_string();
            assert!(err.contains("c1:SOURCE:SIZES"), "{bad}: {err}");
        }
    }
}

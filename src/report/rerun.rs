//! How a report tells its user to replay a case: a command with the quoted case string in
//! it, made once per run from a template (`{case}` marks where the case goes) or from the
//! command that ran the test.

use super::format::shell_quote;
use crate::case::Case;

/// The command that replays a case, cut where the case goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rerun {
    /// The command's text around each place the case goes (one more than the places).
    parts: Vec<String>,
}

impl Rerun {
    /// From a user's template: every `{case}` becomes the quoted case string.
    pub(crate) fn from_template(template: &str) -> Self {
        Rerun {
            parts: template.split("{case}").map(str::to_owned).collect(),
        }
    }

    /// `STUTTERFUZZ_REPLAY=<case> <command>`.
    pub(crate) fn with_env(command: &str) -> Self {
        Rerun {
            parts: vec!["STUTTERFUZZ_REPLAY=".to_owned(), format!(" {command}")],
        }
    }

    /// The line that replays `case`.
    pub(crate) fn line(&self, case: &Case) -> String {
        self.parts.join(&shell_quote(&case.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_goes_where_the_template_says_quoted() {
        let case: Case = "v1:a b:1,2".parse().unwrap();
        assert_eq!(
            Rerun::from_template("run --replay {case} --again {case}").line(&case),
            "run --replay 'v1:a b:1,2' --again 'v1:a b:1,2'"
        );
        assert_eq!(
            Rerun::with_env("cargo test my_test").line(&case),
            "STUTTERFUZZ_REPLAY='v1:a b:1,2' cargo test my_test"
        );
        assert_eq!(
            Rerun::from_template("no placeholder").line(&case),
            "no placeholder"
        );
    }
}

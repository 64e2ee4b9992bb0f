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

    /// The line that runs the whole run again with `seed` (the same cases in the same
    /// order, over as many connections): for a finding that no case alone can show. `None`
    /// for a user's template that does not end in `--replay {case}`.
    pub(crate) fn again(&self, seed: impl std::fmt::Display) -> Option<String> {
        match self.parts.as_slice() {
            [env, command] if env == "STUTTERFUZZ_REPLAY=" => {
                Some(format!("STUTTERFUZZ_SEED={seed}{command}"))
            }
            [before, after] => before
                .strip_suffix("--replay ")
                .map(|before| format!("{before}--seed {seed}{after}")),
            _ => None,
        }
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

    #[test]
    fn the_whole_run_again_is_the_same_command_with_the_seed() {
        assert_eq!(
            Rerun::with_env("cargo test my_test").again(7).as_deref(),
            Some("STUTTERFUZZ_SEED=7 cargo test my_test")
        );
        assert_eq!(
            Rerun::from_template("stutterfuzz --num-conns=50 --replay {case}")
                .again(7)
                .as_deref(),
            Some("stutterfuzz --num-conns=50 --seed 7")
        );
        assert_eq!(Rerun::from_template("run {case}").again(7), None);
    }
}

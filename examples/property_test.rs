//! A property test over split patterns: `stutterfuzz::split_patterns(len)` draws patterns (and
//! shrinks toward fewer chunks), `Stutter::start()` keeps the server up across cases, and
//! `RunningServer::deliver` sends exactly one pattern. In a test of your crate this is the
//! `proptest!` block in the comment below; here proptest's runner is called by hand so that
//! `cargo run --example property_test` shows the shrunk pattern.
//!
//! ```text
//! proptest! {
//!     #[test]
//!     fn any_split_is_answered(splits in stutterfuzz::split_patterns(REQUEST.len())) {
//!         let delivered = target().deliver(REQUEST, &splits);
//!         prop_assert!(delivered.is_ok(), "{}", delivered.unwrap_err());
//!     }
//! }
//! ```

#[path = "common/line_server.rs"]
mod line_server;

use std::process::ExitCode;

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use stutterfuzz::{RunningServer, Stutter};

const REQUEST: &[u8] = b"ECHO hello\nPING\n";

fn main() -> ExitCode {
    let target: RunningServer = Stutter::serve(|listener| line_server::serve(listener, true))
        .start()
        .expect("the server starts");
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let result = runner.run(&stutterfuzz::split_patterns(REQUEST.len()), |splits| {
        let delivered = target.deliver(REQUEST, &splits);
        if let Err(failure) = delivered {
            return Err(TestCaseError::fail(failure.to_string()));
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            println!("every split was answered");
            ExitCode::SUCCESS
        }
        Err(TestError::Fail(why, splits)) => {
            println!("shrunk to {splits:?}:\n{why}");
            ExitCode::from(1)
        }
        Err(other) => {
            println!("{other}");
            ExitCode::from(2)
        }
    }
}

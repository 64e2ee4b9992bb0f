//! Correct servers with two CPU-bound processes beside each run: no finding. A binary of its
//! own, so that the load falls on these tests alone (cargo runs test binaries one after
//! another), never on the timing of the others in `tests/it`.

// The helpers of `tests/it`, of which these tests use some.
#[allow(dead_code)]
#[path = "../it/common.rs"]
mod common;
mod false_alarms;
mod real_false_alarms;

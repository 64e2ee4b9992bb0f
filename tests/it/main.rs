//! The integration tests, one binary: each module tests one part of stutterfuzz from the
//! outside, as a user would. (A test that needs a process of its own, such as
//! `tests/large_blob.rs`, which measures the peak memory of its process, has its own file.)

mod accepting;
mod architecture;
mod async_runs;
mod bad_input;
mod capture;
mod cli;
mod client_frames;
mod client_starttls;
mod clients;
mod code_shape;
mod common;
mod conversations;
mod descendants;
mod faults;
mod frame_waits;
mod frames;
mod fuzz_target;
mod harness;
mod import;
mod in_process;
mod keep_going;
mod narrowing;
mod oracles;
mod parallel_runs;
mod protocol_failures;
mod real_frames;
mod real_servers;
mod real_starttls;
mod record;
mod slow_readers;
mod stalls;
mod starttls;
mod tls;
mod unix_sockets;

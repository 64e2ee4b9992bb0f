//! The framed fixture server, in process, under libFuzzer: each input is a case of
//! `fixtures/framed/frames.bin` (see `stutterfuzz::fuzz`), and the fuzzer's coverage of the
//! server's parser guides which splits it tries next.
#![no_main]

use std::sync::OnceLock;

use stutterfuzz::Stutter;
use stutterfuzz::fuzz::FuzzTarget;

fn target() -> &'static FuzzTarget {
    static TARGET: OnceLock<FuzzTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        // Built in, so the target runs where the sources are not (ClusterFuzzLite); the name
        // is the file's, so case strings replay with `--blob-dir fixtures/framed`.
        let frames = include_bytes!("../../fixtures/framed/frames.bin");
        Stutter::serve(stutterfuzz_fixtures::framed::serve_framed_buggy)
            .blob("frames.bin", frames.as_slice())
            .fuzz_target()
            .unwrap_or_else(|e| panic!("the fuzz target cannot start: {e}"))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target().run(data));

# Tasks for stutterfuzz. Install just with `cargo install just` (or your package manager).

# Fuzz the bundled buggy server and print the finding.
demo *ARGS:
    cargo run --example demo -- {{ARGS}}

# The whole test suite, as CI runs it (installs redis-server, memcached and valgrind if missing).
test *ARGS:
    scripts/test {{ARGS}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Benchmarks: measure throughput and fidelity, then the false-alarm row (not part of the tests).
bench *ARGS:
    cargo bench --bench throughput -- {{ARGS}}
    cargo bench --bench clients
    cargo bench --bench frames
    cargo bench --bench search
    cargo bench --bench search -- --narrowing-only
    cargo bench --bench search -- --hang-narrowing-only
    cargo bench --bench search -- --fuzz-target-only
    cargo bench --bench search -- --one-connection-only
    scripts/false-alarms 30

# False alarms: correct servers fuzzed SECS seconds each with both response oracles; must be 0.
false-alarms SECS="30":
    scripts/false-alarms {{SECS}}

# Soak: long run at many connections, sampling descriptors and memory (10 min by default).
soak *ARGS:
    cargo bench --bench soak -- {{ARGS}}

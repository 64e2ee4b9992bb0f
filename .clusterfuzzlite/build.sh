#!/bin/bash -eu
# Builds every target of fuzz/ with cargo fuzz (the image's nightly, with its sanitizer) and
# hands it to ClusterFuzzLite with a seed corpus: the cases of the regression files, as inputs.
cd "$SRC/stutterfuzz"
cargo fuzz build -O --debug-assertions
cargo build --release --features cli --bin stutterfuzz
for target in $(cargo fuzz list); do
  cp "fuzz/target/x86_64-unknown-linux-gnu/release/$target" "$OUT/"
  seeds=$(mktemp -d)
  if compgen -G "fuzz/seeds/$target/*.txt" > /dev/null; then
    target/release/stutterfuzz input-of-case --blob-dir "fixtures/$target" --out "$seeds" fuzz/seeds/"$target"/*.txt
  fi
  (cd "$seeds" && zip -q -r "$OUT/${target}_seed_corpus.zip" . || true)
done

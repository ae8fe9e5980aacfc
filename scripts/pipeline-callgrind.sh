#!/usr/bin/env bash
# Instructions per telegram of each leg of benches/pipeline.rs, load-independent (issue 17,
# docs/benchmarks.md "Stop 7"): examples/pipeline_profile under callgrind, per telegram = the
# difference of a 2 000- and a 1 000-telegram run (the set-up cancels out). The profiles stay in
# $OUT (default target/callgrind) for `callgrind_annotate --inclusive=yes`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-target/callgrind}"
mkdir -p "$OUT"
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=true \
  cargo build --release --example pipeline_profile
bin=target/release/examples/pipeline_profile
for leg in ${LEGS:-parse decode bridge bridge_pq}; do
  n() {
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$leg.$1" "$bin" "$leg" "$1" 2>&1 |
      sed -n 's/.*Collected : //p'
  }
  a=$(n 1000)
  b=$(n 2000)
  echo "$leg $(((b - a) / 1000)) instructions per telegram"
done

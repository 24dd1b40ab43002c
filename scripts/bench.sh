#!/usr/bin/env bash
# Compiled scikit-learn pipelines, side by side with onnxruntime, in one run
# on this machine.
#
#   scripts/bench.sh            # full run (a few minutes)
#   scripts/bench.sh --quick    # fewer iterations (about a minute after builds)
#
# 1. makes (or reuses) the pinned Python environment (scripts/pyenv.sh) with
#    scikit-learn, skl2onnx and onnxruntime;
# 2. measures onnxruntime (1 thread) on the eight reference pipelines
#    (scripts/bench_peers.py);
# 3. builds glassbox in release mode and measures the same pipelines compiled
#    to components, through the library API, and natively
#    (host/benches/compiled.rs);
# 4. prints one table with the ratios and writes it to
#    target/bench/report.md, with the machine's description.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
quick=()
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); fi
mkdir -p target/bench

echo "== Python environment" >&2
PY="$(scripts/pyenv.sh | tail -n1)"

echo "== onnxruntime" >&2
"$PY" scripts/bench_peers.py "${quick[@]}" --json target/bench/onnxruntime.json >&2

echo "== glassbox (release build, then the benchmark)" >&2
cargo bench -p glassbox --bench compiled -- "${quick[@]}" --json "$PWD/target/bench/glassbox.json"

"$PY" scripts/bench_report.py target/bench/glassbox.json target/bench/onnxruntime.json \
    | tee target/bench/report.md

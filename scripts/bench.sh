#!/usr/bin/env bash
# The benchmark suite: glassbox beside scikit-learn and onnxruntime on the
# eight reference pipelines, in one run on this machine.
#
#   scripts/bench.sh            # full run (about 10 minutes after the builds);
#                               # rewrites the suite's section of docs/BENCHMARKS.md
#   scripts/bench.sh --quick    # fewer iterations (about 3 minutes after the builds);
#                               # the report goes to target/bench/report.md only
#
# 1. makes (or reuses) the pinned Python environment (scripts/pyenv.sh):
#    scikit-learn, skl2onnx, onnxruntime at the reference data's versions;
# 2. measures onnxruntime (1 thread) and scikit-learn (pipelines of the same
#    steps) on each model (scripts/bench_peers.py);
# 3. builds glassbox in release mode and compiles the eight pipelines with
#    `glassbox compile`;
# 4. measures them through the library API, and the same plan natively
#    (host/benches/compiled.rs): one row per call, 10,000-row batches,
#    instantiation;
# 5. starts `glassbox serve` with all of them: start-up to first answer with
#    an empty and a warm code cache, resident memory, and single-row
#    requests per second with wrk (scripts/bench_serve.py);
# 6. prints the tables with ratios (scripts/bench_report.py).
#
# Needs python3 with venv, and wrk (Debian's package, installed here with
# apt-get when missing and run as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
quick=()
mode=full
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); mode=quick; fi
if ! command -v wrk >/dev/null; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "wrk is not installed: apt-get install -y wrk" >&2
        exit 1
    fi
    echo "== apt-get install wrk" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >&2
fi
out=target/bench
mkdir -p "$out/models"

echo "== Python environment" >&2
PY="$(scripts/pyenv.sh | tail -n1)"

echo "== onnxruntime and scikit-learn" >&2
"$PY" scripts/bench_peers.py "${quick[@]}" --json "$out/peers.json" >&2

echo "== glassbox: release build, and the eight pipelines compiled" >&2
cargo build --release -p glassbox >&2
glassbox="${CARGO_TARGET_DIR:-target}/release/glassbox"
data=tests/data/sklearn
for onnx in "$data"/*.onnx; do
    name="$(basename "$onnx" .onnx)"
    "$glassbox" compile "$onnx" --train "$data/$name.train.jsonl" -o "$out/models/$name.wasm" >/dev/null
done

echo "== glassbox through the library API, and natively" >&2
cargo bench -p glassbox --bench compiled -- "${quick[@]}" --json "$PWD/$out/glassbox.json"

echo "== glassbox serve" >&2
"$PY" scripts/bench_serve.py "$glassbox" "$out/models" "${quick[@]}" --json "$out/serve.json"

docs=()
[[ $mode == full ]] && docs=(--docs docs/BENCHMARKS.md)
"$PY" scripts/bench_report.py "$out" --mode "$mode" "${docs[@]}" | tee "$out/report.md"

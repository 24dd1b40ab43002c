#!/usr/bin/env bash
# The benchmark suite: glassbox beside scikit-learn and onnxruntime on the
# reference pipelines of tests/data/sklearn (eight scikit-learn pipelines and
# one LightGBM model), and beside the native tree compilers lleaves and
# TL2cgen on the tree models, in one run on this machine.
#
#   scripts/bench.sh            # full run (about 10 minutes after the builds,
#                               # plus about 6 minutes compiling the tree models
#                               # with lleaves and TL2cgen, synth_rf_large's
#                               # lleaves compile most of it); rewrites the
#                               # suite's section of docs/BENCHMARKS.md
#   scripts/bench.sh --quick    # fewer iterations (about 3 minutes after the builds;
#                               # lleaves and TL2cgen only on the three models of
#                               # the tree targets); the report goes to
#                               # target/bench/report.md only
#
# 1. makes (or reuses) the pinned Python environment (scripts/pyenv.sh
#    --trees): scikit-learn, skl2onnx, onnxruntime at the reference data's
#    versions, and LightGBM, lleaves, Treelite/TL2cgen;
# 2. writes each model's 10,000-row batch, distinct rows
#    (scripts/bench_rows.py, into target/bench/rows), which every side
#    below scores (one-row latency still cycles the held-out rows);
# 3. measures onnxruntime (1 thread) and scikit-learn (pipelines of the same
#    steps; LightGBM for synth_lgbm) on each model (scripts/bench_peers.py);
# 4. measures lleaves and TL2cgen (gcc) on the tree models' trees, rebuilt
#    node for node from the ONNX files (scripts/bench_trees.py): the native
#    limit a compiled tree ensemble can reach;
# 5. builds glassbox in release mode and compiles the pipelines with
#    `glassbox compile`;
# 6. measures them through the library API, and the same plan natively
#    (host/benches/compiled.rs): one row per call, 10,000-row batches,
#    instantiation;
# 7. measures one-row calls to `glassbox serve` over REST (one tensor per
#    feature, one [N, F] tensor, Triton's binary data) and gRPC
#    (host/benches/protocols.rs);
# 8. starts `glassbox serve` with all of them: start-up to first answer with
#    an empty and a warm code cache, resident memory, and single-row
#    requests per second with wrk (scripts/bench_serve.py);
# 9. starts the runtime-only build (scripts/dist.sh --runtime) on them
#    precompiled and signed: start to first answer and resident memory
#    (scripts/bench_edge.py);
# 10. prints the tables with ratios (scripts/bench_report.py).
#
# Needs python3 with venv, gcc (TL2cgen's C is compiled with it), and wrk
# (Debian's package, installed here with apt-get when missing and run as
# root).
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
PY="$(scripts/pyenv.sh --trees | tail -n1)"

echo "== batch rows: 10,000 distinct rows per model" >&2
rows="$PWD/$out/rows"
"$PY" scripts/bench_rows.py --out "$rows" >&2

echo "== onnxruntime and scikit-learn" >&2
"$PY" scripts/bench_peers.py "${quick[@]}" --rows "$rows" --json "$out/peers.json" >&2

echo "== lleaves and TL2cgen on the tree models" >&2
# --quick measures only the models the tree targets name (bc_gbc, friedman,
# synth_lgbm: seconds to compile) and reuses the libraries of an earlier
# run when a model is unchanged: lleaves compiles synth_rf_large and churn's
# forest for about four minutes, which a fresh clone's CI run cannot spare.
trees=()
[[ $mode == quick ]] && trees=(--reuse --models bc_gbc friedman_dtree_reg synth_lgbm)
"$PY" scripts/bench_trees.py "${quick[@]}" --rows "$rows" --json "$out/trees.json" "${trees[@]}" >&2

echo "== glassbox: release build, and the reference pipelines compiled" >&2
cargo build --release -p glassbox >&2
glassbox="${CARGO_TARGET_DIR:-target}/release/glassbox"
data=tests/data/sklearn
for onnx in "$data"/*.onnx; do
    name="$(basename "$onnx" .onnx)"
    "$glassbox" compile "$onnx" --train "$data/$name.train.jsonl" -o "$out/models/$name.wasm" >/dev/null
done

echo "== glassbox through the library API, and natively" >&2
cargo bench -p glassbox --bench compiled -- "${quick[@]}" --rows "$rows" --json "$PWD/$out/glassbox.json"

echo "== glassbox from Python (the wheel; scripts/bench_python.py)" >&2
# The venv scripts/test-python.sh made (with the wheel of this tree), or a
# new one when there is none: --collect-only builds and installs without
# running the tests.
[[ -x target/python/venv/bin/python ]] || scripts/test-python.sh --collect-only -q >/dev/null
target/python/venv/bin/python scripts/bench_python.py "${quick[@]}" --json "$out/python.json" >&2

echo "== glassbox serve over each protocol: REST per feature, [N, F], binary data; gRPC" >&2
# One-row calls to the compiled digits_logreg, with a load generator of its
# own (host/benches/protocols.rs); it prints its table and writes JSON.
proto_seconds=5
[[ $mode == quick ]] && proto_seconds=2
# (cargo runs a bench from its package's directory: absolute paths.)
cargo bench -p glassbox --bench protocols -- --glassbox "$(realpath "$glassbox")" \
    --model "$PWD/$out/models/digits_logreg.wasm" --rows "$PWD/$data/digits_logreg.inputs.jsonl" \
    --seconds "$proto_seconds" --json "$PWD/$out/protocols.json"

echo "== glassbox serve" >&2
"$PY" scripts/bench_serve.py "$glassbox" "$out/models" "${quick[@]}" --json "$out/serve.json"

echo "== an edge node: the runtime-only build on the models precompiled" >&2
host=$(rustc -vV | sed -n 's/^host: //p')
runtime=target/ship/$host/glassbox-runtime
[[ -x $runtime ]] || scripts/dist.sh --runtime >&2
"$PY" scripts/bench_edge.py "$runtime" "$glassbox" "$out/models" "${quick[@]}" --json "$out/edge.json"

docs=()
[[ $mode == full ]] && docs=(--docs docs/BENCHMARKS.md)
"$PY" scripts/bench_report.py "$out" --mode "$mode" "${docs[@]}" | tee "$out/report.md"

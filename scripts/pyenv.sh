#!/usr/bin/env bash
# Create (or reuse) the Python environment used to generate test fixtures and
# to run the peer benchmarks.
#
#   scripts/pyenv.sh            # venv at target/pyenv (relative to the repo root)
#   GLASSBOX_PYENV=/some/dir scripts/pyenv.sh
#   scripts/pyenv.sh --coverage # also the packages tests/data/coverage/generate.py
#                               # needs (XGBoost, LightGBM, CatBoost, onnxmltools)
#   GLASSBOX_PYENV_COVERAGE=1 scripts/pyenv.sh   # same as --coverage
#   scripts/pyenv.sh --trees    # also the native tree compilers the benchmark
#                               # suite measures beside glassbox
#                               # (scripts/bench_trees.py: lleaves, TL2cgen)
#                               # and LightGBM (scripts/bench_peers.py)
#   GLASSBOX_PYENV_TREES=1 scripts/pyenv.sh      # same as --trees
#
# The default pins below match the versions the reference data in
# tests/data/sklearn was produced with. Every pin was checked to be available
# on PyPI.
# Re-running is cheap: when the marker file inside the venv already lists the
# same pins, nothing is installed. The coverage and trees extras go into the
# same venv with their own markers (.glassbox-pins-coverage,
# .glassbox-pins-trees); callers that pass nothing neither install nor check
# them. Both flags may be given together. The last line on stdout is the
# path of the venv's python interpreter, so callers can do:
#
#   PY="$(scripts/pyenv.sh | tail -n1)"
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="${GLASSBOX_PYENV:-target/pyenv}"
case "$venv" in
    /*) ;;
    *) venv="$repo_root/$venv" ;;
esac

pins=(
    "numpy==2.4.6"
    "scikit-learn==1.9.1"
    "skl2onnx==1.20.0"
    "onnx==1.23.2"
    "onnxruntime==1.32.0"
    "pandas==3.1.1"
    # Not in the reference pin list, but needed: protobuf 7 rejects Python
    # bools in integer-list attributes, which breaks skl2onnx 1.20.0 when it
    # writes nodes_missing_value_tracks_true for HistGradientBoosting models
    # ("Field onnx.AttributeProto.ints: Expected an int, got a boolean").
    "protobuf==6.33.6"
)

# Extra pins for the generated conformance corpus (tests/data/coverage/),
# installed only with --coverage. xgboost-cpu is the CPU-only build of the
# `xgboost` module (3.2.0 is the newest for Python 3.11); the plain `xgboost`
# wheel drags in a ~300 MB NCCL package. catboost brings matplotlib, plotly
# and graphviz along as its own requirements.
coverage_pins=(
    "xgboost-cpu==3.2.0"
    "lightgbm==4.7.0"
    "onnxmltools==1.16.0"
    "onnxconverter-common==1.16.0"
    "catboost==1.2.10"
)

# Extra pins for the benchmark suite's tree-compiler sides
# (scripts/bench_trees.py), installed only with --trees: lleaves compiles
# LightGBM model files to native code with LLVM (llvmlite 0.44.0 bundles its
# own LLVM 15, a ~40 MB wheel); TL2cgen turns a Treelite model into C that
# gcc compiles (gcc comes from the system, not from PyPI). lightgbm, at the
# coverage pin, is the LightGBM reference model's "scikit-learn side" in
# scripts/bench_peers.py. All are binary wheels (nothing is built), 46 MB
# to download (llvmlite's 42 MB of it; 145 MB installed): about 10 s into a
# fresh venv on two cores, 2-3 s into the existing one.
trees_pins=(
    "lightgbm==4.7.0"
    "lleaves==1.3.0"
    "llvmlite==0.44.0"
    "treelite==4.8.1"
    "tl2cgen==1.0.0"
)

coverage="${GLASSBOX_PYENV_COVERAGE:-}"
trees="${GLASSBOX_PYENV_TREES:-}"
for arg in "$@"; do
    case "$arg" in
        --coverage) coverage=1 ;;
        --trees) trees=1 ;;
        *)
            echo "usage: scripts/pyenv.sh [--coverage] [--trees]" >&2
            exit 2
            ;;
    esac
done

base_python="${PYTHON:-python3}"
marker="$venv/.glassbox-pins"
wanted="$(printf '%s\n' "$(${base_python} -c 'import sys; print("python %d.%d" % sys.version_info[:2])')" "${pins[@]}")"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "pyenv: creating venv at $venv" >&2
    "$base_python" -m venv "$venv"
    rm -f "$marker"
fi

if [[ -f "$marker" ]] && [[ "$(cat "$marker")" == "$wanted" ]]; then
    echo "pyenv: pins unchanged, nothing to install" >&2
else
    echo "pyenv: installing ${pins[*]}" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input "${pins[@]}" >&2
    # Only written after a successful install, so a failed run is retried.
    printf '%s\n' "$wanted" >"$marker"
fi

if [[ -n "$coverage" && "$coverage" != 0 ]]; then
    coverage_marker="$venv/.glassbox-pins-coverage"
    coverage_wanted="$(printf '%s\n' "$wanted" "${coverage_pins[@]}")"
    if [[ -f "$coverage_marker" ]] && [[ "$(cat "$coverage_marker")" == "$coverage_wanted" ]]; then
        echo "pyenv: coverage pins unchanged, nothing to install" >&2
    else
        echo "pyenv: installing coverage extras ${coverage_pins[*]}" >&2
        # The default pins are passed again so that pip keeps them (no
        # numpy/protobuf/onnx upgrade pulled in by an extra's requirements).
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --no-input "${pins[@]}" "${coverage_pins[@]}" >&2
        printf '%s\n' "$coverage_wanted" >"$coverage_marker"
    fi
fi

if [[ -n "$trees" && "$trees" != 0 ]]; then
    trees_marker="$venv/.glassbox-pins-trees"
    trees_wanted="$(printf '%s\n' "$wanted" "${trees_pins[@]}")"
    if [[ -f "$trees_marker" ]] && [[ "$(cat "$trees_marker")" == "$trees_wanted" ]]; then
        echo "pyenv: trees pins unchanged, nothing to install" >&2
    else
        echo "pyenv: installing tree-compiler extras ${trees_pins[*]}" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --no-input "${pins[@]}" "${trees_pins[@]}" >&2
        printf '%s\n' "$trees_wanted" >"$trees_marker"
    fi
fi

echo "$venv/bin/python"

#!/usr/bin/env bash
# Create (or reuse) the Python environment used to generate test fixtures and
# to run the peer benchmarks.
#
#   scripts/pyenv.sh            # venv at target/pyenv (relative to the repo root)
#   GLASSBOX_PYENV=/some/dir scripts/pyenv.sh
#   scripts/pyenv.sh --coverage # also the packages tests/data/coverage/generate.py
#                               # needs (XGBoost, LightGBM, CatBoost, onnxmltools)
#   GLASSBOX_PYENV_COVERAGE=1 scripts/pyenv.sh   # same as --coverage
#
# The default pins below match the versions the reference data in
# tests/data/sklearn was produced with. Every pin was checked to be available
# on PyPI.
# Re-running is cheap: when the marker file inside the venv already lists the
# same pins, nothing is installed. The coverage extras go into the same venv
# with their own marker (.glassbox-pins-coverage); callers that pass nothing
# neither install nor check them. The last line on stdout is the path of the
# venv's python interpreter, so callers can do:
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

coverage="${GLASSBOX_PYENV_COVERAGE:-}"
for arg in "$@"; do
    case "$arg" in
        --coverage) coverage=1 ;;
        *)
            echo "usage: scripts/pyenv.sh [--coverage]" >&2
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

echo "$venv/bin/python"

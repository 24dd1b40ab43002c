#!/usr/bin/env bash
# The real clients against `glassbox serve`: Triton's tritonclient (HTTP with
# and without binary tensor data, gRPC) and the KServe SDK (REST and gRPC),
# in tests/clients/. Each pytest session compiles the reference models of
# tests/data/sklearn, serves them on a free loopback port and stops the
# server at the end.
#
#   scripts/test-clients.sh                   # with target/release/glassbox
#   GLASSBOX_BIN=path/to/glassbox scripts/test-clients.sh
#   scripts/test-clients.sh -k grpc           # extra arguments go to pytest
#
# The venv (target/clients/venv) is made once and reused while
# tests/clients/requirements.txt and the Python version are unchanged (a
# stamp file holds their hash). From nothing the install takes about a
# minute on two cores (most of it kserve's dependencies) and the venv is
# about 520 MB.
#
# Two pytest processes: kserve and tritonclient.grpc cannot be imported into
# one (both define the inference.* protobuf messages), so test_kserve.py
# runs on its own. The exit status is the first failure's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python="${PYTHON:-python3}"
venv=target/clients/venv
req=tests/clients/requirements.txt
stamp="$venv/.requirements.sha256"
wanted="$({ "$python" -c 'import sys; print("python %d.%d.%d" % sys.version_info[:3])'; cat "$req"; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "== client venv up to date ($venv)" >&2
else
    echo "== pip install -r $req into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
    # Written only after a successful install, so a failed one is retried.
    echo "$wanted" >"$stamp"
fi

export GLASSBOX_BIN="${GLASSBOX_BIN:-target/release/glassbox}"
if [[ ! -x "$GLASSBOX_BIN" ]]; then
    echo "no glassbox binary at $GLASSBOX_BIN (cargo build --release, or set GLASSBOX_BIN)" >&2
    exit 2
fi

# pytest exits 5 when it selected no test (say, -k matched only one file):
# that run counts as passed, unless neither run selected any.
run() {
    local rc=0
    "$venv/bin/python" -m pytest -p no:cacheprovider "$@" || rc=$?
    return "$rc"
}
rc1=0
rc2=0
echo "== pytest tests/clients (tritonclient HTTP and gRPC)" >&2
run tests/clients --ignore=tests/clients/test_kserve.py "$@" || rc1=$?
echo "== pytest tests/clients/test_kserve.py (KServe SDK)" >&2
run tests/clients/test_kserve.py "$@" || rc2=$?
if [[ $rc1 -eq 5 && $rc2 -eq 5 ]]; then
    echo "no test selected" >&2
    exit 5
fi
[[ $rc1 -eq 5 ]] && rc1=0
[[ $rc2 -eq 5 ]] && rc2=0
if [[ $rc1 -ne 0 ]]; then exit "$rc1"; fi
exit "$rc2"

#!/usr/bin/env bash
# The Python package's tests, as a user would meet the package: build the
# wheel (maturin, release), install it into a fresh venv with the test
# requirements, and run pytest (Spark in local mode included: Java 17 from
# Debian, pyspark from PyPI).
#
#   scripts/test-python.sh            # build, install, test
#   scripts/test-python.sh -k spark   # extra arguments go to pytest
#
# scripts/test.sh runs this after cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pip_install() {
    "$@" --quiet --disable-pip-version-check --no-input
}

if ! command -v java >/dev/null; then
    echo "== apt-get install openjdk-17-jre-headless (Spark)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; } >&2
fi

# The build tool lives in a venv of its own, reused between runs.
tools=target/python/tools
if [[ ! -x "$tools/bin/maturin" ]]; then
    python3 -m venv "$tools"
    pip_install "$tools/bin/pip" install "maturin==1.16.0"
fi

echo "== maturin build --release (the wheel)" >&2
rm -rf target/wheels
"$tools/bin/maturin" build --release --strip -m python/Cargo.toml -o target/wheels >&2
wheel="$(ls target/wheels/glassbox_runtime-*.whl)"

# A fresh venv every run: the wheel must install where nothing else is.
# The test requirements come from the pip cache after the first run.
venv=target/python/venv
rm -rf "$venv"
python3 -m venv "$venv"
echo "== pip install the wheel and the test requirements" >&2
pip_install "$venv/bin/pip" install "$wheel" -r python/tests/requirements.txt

echo "== pytest" >&2
# From the repository's root, not python/: there `import glassbox` would
# find the source folder (which has no native module) before the wheel.
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"

#!/usr/bin/env bash
# The whole test suite, as CI runs it: starts the real services the
# telemetry tests talk to (an OpenTelemetry collector and Prometheus, on
# loopback; see scripts/test-services.sh), runs `cargo test --workspace
# --release` with them required, then the Python tests and the tests with
# tritonclient and KServe's SDK (scripts/test-clients.sh), and stops the
# services afterwards. First it builds the runtime-only binaries the edge
# tests run (scripts/dist.sh, for this machine and aarch64). Release, so
# that the tests, the Python wheel and the benchmark suite share one build
# (the integration tests also take 8 minutes instead of 11).
#
#   scripts/test.sh                  # everything
#   scripts/test.sh -- telemetry     # extra arguments go to cargo test
#                                    # (and skip the Python tests)
#   scripts/test-python.sh           # the Python tests alone
#
# Plain `cargo test --workspace` runs the rest and skips the tests that need
# the services, saying so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The edge tests (tests/all/edge.rs) run the runtime-only build, stripped
# as it ships, for this machine and for aarch64 under Debian's qemu-user;
# its size budget (10 MB) is checked as it is built.
scripts/dist.sh --runtime --max-mb 10
scripts/dist.sh --runtime --target aarch64-unknown-linux-gnu --max-mb 10
if ! command -v qemu-aarch64 >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user
fi
host=$(rustc -vV | sed -n 's/^host: //p')
export GLASSBOX_EDGE_RUNTIME=$PWD/target/ship/$host/glassbox-runtime
export GLASSBOX_EDGE_AARCH64=$PWD/target/ship/aarch64-unknown-linux-gnu/glassbox-runtime
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

scripts/test-services.sh start >/dev/null
trap 'scripts/test-services.sh stop' EXIT
# shellcheck source=/dev/null
. target/test-services/env
export GLASSBOX_REQUIRE_SERVICES=1
cargo test --workspace --release --locked "$@"
# The Python package: its wheel built, installed in a fresh venv, and its
# pytest suite (with Spark); then the real clients of other model servers
# (tritonclient HTTP and gRPC, the KServe SDK) against the release binary
# cargo test built. Skipped when cargo test was given a filter.
if [[ $# -eq 0 ]]; then
    scripts/test-python.sh
    scripts/test-clients.sh
fi

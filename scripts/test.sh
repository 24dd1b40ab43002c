#!/usr/bin/env bash
# The whole test suite, as CI runs it: starts the real services the
# telemetry tests talk to (an OpenTelemetry collector and Prometheus, on
# loopback; see scripts/test-services.sh), runs `cargo test --workspace
# --release` with them required, then the Python tests and the tests with
# tritonclient and KServe's SDK (scripts/test-clients.sh), and stops the
# services afterwards. Release, so that the tests, the Python wheel and the
# benchmark suite share one build (the integration tests also take 8
# minutes instead of 11).
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

#!/usr/bin/env bash
# Load test of `glassbox serve`: single-row requests per second and latency
# percentiles, with wrk on the same machine.
#
#   scripts/load.sh                      # 20 s per API, 32 connections
#   DURATION=10s CONNECTIONS=64 scripts/load.sh
#
# 1. builds glassbox in release mode (honours CARGO_TARGET_DIR);
# 2. starts `glassbox serve` with the bundled examples on a free port;
# 3. drives one-row digits-logreg requests (64 features, 10 classes) with
#    wrk, through OIP v2 (/v2/models/digits-logreg/infer) then KServe v1
#    (/v1/models/digits-logreg:predict), each on keep-alive connections;
# 4. prints req/s, p50, p99 and any non-2xx answers, then stops the server
#    with SIGTERM.
#
# wrk is Debian's `wrk` package (apt-get install -y wrk). The load generator
# shares the machine's cores with the server, as a sidecar would.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"
WRK_THREADS="${WRK_THREADS:-1}"
PORT="${PORT:-18080}"

if ! command -v wrk >/dev/null; then
    echo "wrk is not installed: apt-get install -y wrk" >&2
    exit 1
fi

echo "== building glassbox (release)" >&2
cargo build --release -p glassbox >&2
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
trap 'kill -TERM "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

"$target/release/glassbox" serve --listen "127.0.0.1:$PORT" --no-cache >"$work/banner" 2>"$work/log" &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null || { cat "$work/log" >&2; exit 1; }

# One sample row of digits-logreg, as a v1 instance and as OIP tensors.
row="$(head -n1 examples/models/digits-logreg/sample.jsonl)"
python3 - "$row" "$work" <<'PY'
import json, sys
row = json.loads(sys.argv[1]); out = sys.argv[2]
json.dump({"instances": [row]}, open(f"{out}/v1.json", "w"))
json.dump({"inputs": [{"name": k, "datatype": "FP64", "shape": [1], "data": [v]}
                      for k, v in row.items()]}, open(f"{out}/v2.json", "w"))
PY
for api in v2 v1; do
    cat >"$work/$api.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/$api.json"):read("*a")
LUA
done

run() {
    local api="$1" path="$2"
    local url="http://127.0.0.1:$PORT$path"
    # A short warm-up, then the measured run.
    wrk -t1 -c4 -d2s -s "$work/$api.lua" "$url" >/dev/null
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/$api.lua" "$url" >"$work/$api.out"
    local rps p50 p99 bad
    rps="$(awk '/^Requests\/sec/ {print $2}' "$work/$api.out")"
    p50="$(awk '$1 == "50%" {print $2}' "$work/$api.out")"
    p99="$(awk '$1 == "99%" {print $2}' "$work/$api.out")"
    bad="$(awk '/Non-2xx/ {print $NF}' "$work/$api.out")"
    printf '%-4s %-40s %10s req/s   p50 %-8s p99 %-8s non-2xx %s\n' \
        "$api" "$path" "$rps" "$p50" "$p99" "${bad:-0}"
}

echo "== digits-logreg, one row per request, $CONNECTIONS connections, $DURATION, wrk -t$WRK_THREADS" >&2
run v2 /v2/models/digits-logreg/infer
run v1 /v1/models/digits-logreg:predict
rss="$(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")"
echo "server peak RSS: $rss; $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

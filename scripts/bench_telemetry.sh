#!/usr/bin/env bash
# What tracing costs `glassbox serve`: one-row requests per second with
# traces off, and with every request traced (100 % sampling) and exported
# over OTLP/gRPC to a real collector (rotel, discarding what it receives),
# measured in alternating rounds of one run so that the machine's drift
# hits both sides alike. Prometheus metrics are kept in both.
#
#   scripts/bench_telemetry.sh                 # 3 rounds of 15 s per side
#   ROUNDS=5 DURATION=20s scripts/bench_telemetry.sh
#   RATIOS="1 0.1" scripts/bench_telemetry.sh  # also a side sampling 10 % of traces
#
# Needs wrk (apt-get install -y wrk) and python3 (for rotel's wheel).
# The collector runs on the same two cores as the server and wrk, as a
# node agent would.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-15s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
MODEL="${MODEL:-digits-logreg}"
RATIOS="${RATIOS:-1}"

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }

echo "== building glassbox (release)" >&2
cargo build --release -p glassbox >&2
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rotel, pinned as in scripts/test-services.sh, in the same venv.
venv=target/test-services/venv
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import rotel' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'rotel==0.0.1a15'
fi
rotel="$("$venv/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
otlp_port="$(free_port)"
NO_COLOR=1 "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$otlp_port" \
    --otlp-http-endpoint "127.0.0.1:$(free_port)" --exporter blackhole >"$work/rotel.log" 2>&1 &
pids+=($!)

# One sample row as OIP tensors.
python3 - "$(head -n1 "examples/models/$MODEL/sample.jsonl")" "$work" <<'PY'
import json, sys
row = json.loads(sys.argv[1])
json.dump({"inputs": [{"name": k, "datatype": "FP64", "shape": [1], "data": [v]}
                      for k, v in row.items()]}, open(f"{sys.argv[2]}/v2.json", "w"))
PY
cat >"$work/v2.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/v2.json"):read("*a")
LUA

# round SIDE: starts a server (traces `off`, or on sampling the ratio SIDE of
# traces), loads it, prints req/s p99.
round() {
    local side="$1" port
    port="$(free_port)"
    local -a env=(env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    if [[ "$side" != off ]]; then
        env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port"
              OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_TRACES_SAMPLER=traceidratio
              OTEL_TRACES_SAMPLER_ARG="$side" OTEL_METRICS_EXPORTER=none)
    fi
    "${env[@]}" "$target/release/glassbox" serve --listen "127.0.0.1:$port" --no-cache \
        >"$work/banner" 2>"$work/serve.log" &
    local server=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local url="http://127.0.0.1:$port/v2/models/$MODEL/infer"
    wrk -t1 -c4 -d2s -s "$work/v2.lua" "$url" >/dev/null
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/v2.lua" "$url" >"$work/out"
    local traced=""
    [[ "$side" == 1 ]] && traced="$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data @"$work/v2.json" "$url" | grep -ci '^traceresponse:' || true)"
    kill -TERM "$server"; wait "$server" 2>/dev/null || true
    if [[ "$side" == 1 && "$traced" != 1 ]]; then
        echo "the traced server answered without a traceresponse header" >&2; exit 1
    fi
    printf '%s %s %s %s\n' "$side" \
        "$(awk '/^Requests\/sec/ {print $2}' "$work/out")" \
        "$(awk '$1 == "99%" {print $2}' "$work/out")" \
        "$(awk '/Non-2xx/ {print $NF}' "$work/out")"
}

echo "== $MODEL, one row per request (OIP v2), $CONNECTIONS connections, $ROUNDS rounds of $DURATION per side" >&2
for _ in $(seq "$ROUNDS"); do
    round off
    for r in $RATIOS; do round "$r"; done
done | tee "$work/results" | awk '{printf "traces %-5s %10s req/s  p99 %-8s%s\n", ($1 == "off" ? "off" : $1 * 100 "%"), $2, $3, ($4 ? "  non-2xx " $4 : "")}'
awk '
    { sum[$1] += $2; n[$1]++ }
    END {
        off = sum["off"] / n["off"]
        printf "mean, traces off: %.0f req/s\n", off
        for (side in sum) if (side != "off")
            printf "mean, traces on, sampling %g %%: %.0f req/s; traced / untraced = %.3f (%.1f %% lower)\n",
                side * 100, sum[side] / n[side], sum[side] / n[side] / off, 100 * (1 - sum[side] / n[side] / off)
    }' "$work/results"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

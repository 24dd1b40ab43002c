#!/usr/bin/env bash
# What keeping live profiles costs `glassbox serve`: one-row requests per
# second with monitoring on and off (GLASSBOX_MONITOR), and with monitoring
# and a prediction log of every call (--prediction-log), in
# alternating rounds of one run, on a compiled reference pipeline that
# carries its training profile (digits_logreg: 64 features, 10 classes).
#
#   scripts/bench_monitor.sh                        # 3 rounds of 15 s per side
#   ROUNDS=5 DURATION=20s MODEL=bc_gbc scripts/bench_monitor.sh
#   LOG_RATE=0.1 scripts/bench_monitor.sh           # log a tenth of the calls
#
# Needs wrk (apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-15s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
MODEL="${MODEL:-digits_logreg}"
LOG_RATE="${LOG_RATE:-1}"
data=tests/data/sklearn

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
echo "== building glassbox (release)" >&2
cargo build --release -p glassbox >&2
glassbox="${CARGO_TARGET_DIR:-target}/release/glassbox"
work="$(mktemp -d)"
trap 'kill -TERM "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

"$glassbox" compile "$data/$MODEL.onnx" --train "$data/$MODEL.train.jsonl" \
    -o "$work/$MODEL.wasm" >&2
python3 - "$(head -n1 "$data/$MODEL.inputs.jsonl")" "$work" <<'PY'
import json, sys
row = json.loads(sys.argv[1])
dtype = lambda v: "BYTES" if isinstance(v, str) else "FP64"
json.dump({"inputs": [{"name": k, "datatype": dtype(v), "shape": [1], "data": [v]}
                      for k, v in row.items()]}, open(f"{sys.argv[2]}/v2.json", "w"))
PY
cat >"$work/v2.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/v2.json"):read("*a")
LUA

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

round() {
    local side="$1" port
    port="$(free_port)"
    rm -rf "$work/log"
    local extra=()
    [[ $side == log ]] && extra=(--prediction-log "$work/log" --log-sample-rate "$LOG_RATE")
    GLASSBOX_MONITOR="$([[ $side == off ]] && echo false || echo true)" \
        "$glassbox" serve "$work/$MODEL.wasm" --listen "127.0.0.1:$port" --no-cache "${extra[@]}" \
        >/dev/null 2>"$work/serve.log" &
    server=$!
    local ready=""
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && ready=1 && break
        sleep 0.1
    done
    if [[ -z $ready ]]; then
        echo "glassbox serve ($side) did not start:" >&2; cat "$work/serve.log" >&2; exit 1
    fi
    local url="http://127.0.0.1:$port/v2/models/$MODEL/infer"
    wrk -t1 -c4 -d2s -s "$work/v2.lua" "$url" >/dev/null
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/v2.lua" "$url" >"$work/out"
    # The monitored side must really have counted the rows.
    local status
    status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/models/$MODEL/monitor")"
    kill -TERM "$server"; wait "$server" 2>/dev/null || true
    if [[ ($side != off && $status != 200) || ($side == off && $status != 404) ]]; then
        echo "monitor route answered $status with monitoring $side" >&2; exit 1
    fi
    if [[ $side == log ]]; then
        # Logged rows, to show the log kept up (it drops rather than block).
        printf 'logged %s rows in %s files\n' "$(cat "$work"/log/*.jsonl | wc -l)" \
            "$(find "$work/log" -name '*.jsonl' | wc -l)" >&2
    fi
    printf '%s %s %s\n' "$side" \
        "$(awk '/^Requests\/sec/ {print $2}' "$work/out")" \
        "$(awk '$1 == "99%" {print $2}' "$work/out")"
}

echo "== $MODEL, one row per request (OIP v2), $CONNECTIONS connections, $ROUNDS rounds of $DURATION per side; log rate $LOG_RATE" >&2
for _ in $(seq "$ROUNDS"); do
    round off
    round on
    round log
done | tee "$work/results" | awk '{printf "%-4s %10s req/s  p99 %s\n", $1, $2, $3}'
awk '
    { sum[$1] += $2; n[$1]++ }
    END {
        off = sum["off"] / n["off"]; on = sum["on"] / n["on"]; log_ = sum["log"] / n["log"]
        printf "mean: off %.0f req/s, monitored %.0f, monitored and logged %.0f\n", off, on, log_
        printf "monitored / unmonitored = %.3f (%.1f %% lower)\n", on / off, 100 * (1 - on / off)
        printf "monitored and logged / unmonitored = %.3f (%.1f %% lower)\n", log_ / off, 100 * (1 - log_ / off)
    }' "$work/results"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

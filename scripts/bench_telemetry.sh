#!/usr/bin/env bash
# What tracing costs `glassbox serve`, in three parts, one run:
#
# 1. Fixed rate (the figure that decides): the server's CPU time per
#    one-row request at RATE requests per second, untraced and traced at
#    100 % through the lean span path to a real collector (rotel,
#    discarding what it receives) over OTLP/gRPC and HTTP/protobuf, with one
#    span per request (the default) and with separate server and scoring
#    spans. The server runs on CPU 0, the load and the collector on CPU 1.
#    (host/benches/tracing.rs: CPU from /proc, the exporter thread's own
#    from its schedstat.)
# 2. Closed loop: requests per second with traces off and on (100 %),
#    wrk and the collector on the same two cores as the server, as a node
#    agent would be, in alternating rounds so that the machine's drift hits
#    both sides alike; with the CPU time server and collector spent per
#    request. Prometheus metrics are kept in both.
# 3. The library: `Model::score` of one row with the lean tracer installed,
#    against the same telemetry with traces off (criterion, host/benches/
#    scoring.rs's `tracing` group).
#
#   scripts/bench_telemetry.sh                 # all three
#   ROUNDS=5 DURATION=20s scripts/bench_telemetry.sh
#   RATE=3000 FIXED_SECONDS=20 scripts/bench_telemetry.sh
#   PARTS="fixed" scripts/bench_telemetry.sh   # any of: fixed closed library
#   RATIOS="1 0.1" scripts/bench_telemetry.sh  # closed loop: also a side sampling 10 %
#   PROTOCOL=http/protobuf scripts/bench_telemetry.sh   # closed loop's protocol
#   ROWS=32 scripts/bench_telemetry.sh         # closed loop: 32 rows per request
#   PIN=1 scripts/bench_telemetry.sh           # closed loop: server on CPU 0, the rest on CPU 1
#
# Needs wrk (apt-get install -y wrk) and python3 (for rotel's wheel).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-15s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
MODEL="${MODEL:-digits-logreg}"
RATIOS="${RATIOS:-1}"
PROTOCOL="${PROTOCOL:-grpc}"
ROWS="${ROWS:-1}"
PARTS="${PARTS:-fixed closed library}"
RATE="${RATE:-2000}"
FIXED_SECONDS="${FIXED_SECONDS:-10}"
# PIN=1: the server on CPU 0, wrk and the collector on CPU 1, so that the
# collector's work does not come out of the server's time.
PIN="${PIN:-0}"
server_cpus=() others=()
if [[ "$PIN" == 1 ]]; then server_cpus=(taskset -c 0) others=(taskset -c 1); fi

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }

echo "== building glassbox (release)" >&2
cargo build --release -p glassbox >&2
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
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
grpc_port="$(free_port)"
http_port="$(free_port)"
case "$PROTOCOL" in
    grpc) otlp_port="$grpc_port" ;;
    http/protobuf) otlp_port="$http_port" ;;
    *) echo "PROTOCOL is grpc or http/protobuf, not $PROTOCOL" >&2; exit 1 ;;
esac
NO_COLOR=1 "${others[@]}" "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
    --otlp-http-endpoint "127.0.0.1:$http_port" --exporter blackhole >"$work/rotel.log" 2>&1 &
collector=$!
pids+=("$collector")

if [[ " $PARTS " == *" fixed "* ]]; then
    # A second collector, on CPU 1 with the load, for the fixed-rate part.
    fixed_grpc="$(free_port)" fixed_http="$(free_port)"
    pin_server=() pin_rest=()
    if (( $(nproc) >= 2 )); then pin_server=(--server-cpu 0) pin_rest=(taskset -c 1); fi
    NO_COLOR=1 "${pin_rest[@]}" "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$fixed_grpc" \
        --otlp-http-endpoint "127.0.0.1:$fixed_http" --exporter blackhole >"$work/rotel-fixed.log" 2>&1 &
    pids+=("$!")
    echo "== part 1: fixed rate, $RATE req/s, server CPU per request" >&2
    "${pin_rest[@]}" cargo bench -q -p glassbox --bench tracing -- \
        --glassbox "$target/release/glassbox" --otlp-grpc "http://127.0.0.1:$fixed_grpc" \
        --otlp-http "http://127.0.0.1:$fixed_http" --rate "$RATE" --seconds "$FIXED_SECONDS" \
        --rounds "$ROUNDS" "${pin_server[@]}"
fi
if [[ " $PARTS " == *" library "* ]]; then
    echo "== part 3 (first, while nothing else runs): the library, Model::score with the lean tracer" >&2
    cargo bench -q -p glassbox --bench scoring -- tracing 2>&1 | grep -E "^(tracing/|library tracing)|time:" || true
fi
[[ " $PARTS " == *" closed "* ]] || exit 0
echo "== part 2: closed loop" >&2

# cpu_ticks PID: the user and system CPU time the process has used, in
# clock ticks (fields 14 and 15 of /proc/PID/stat, all threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# export_ticks PID: the same for the threads that only export telemetry:
# the lean span exporter and the metrics exporter's runtime (thread names,
# cut to 15 characters by the kernel).
export_ticks() {
    local total=0 task name
    for task in /proc/"$1"/task/*; do
        name="$(cat "$task/comm" 2>/dev/null)" || continue
        case "$name" in
            glassbox-spans|glassbox-otlp*)
                total=$(( total + $(sed 's/.*) //' "$task/stat" | awk '{print $12 + $13}') )) ;;
        esac
    done
    echo "$total"
}

# ROWS rows per request as OIP tensors, cycling through the sample rows.
python3 - "examples/models/$MODEL/sample.jsonl" "$ROWS" "$work" <<'PY'
import json, sys
sample = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [sample[i % len(sample)] for i in range(int(sys.argv[2]))]
json.dump({"inputs": [{"name": k, "datatype": "FP64", "shape": [len(rows)],
                       "data": [r[k] for r in rows]} for k in rows[0]]},
          open(f"{sys.argv[3]}/v2.json", "w"))
PY
cat >"$work/v2.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/v2.json"):read("*a")
LUA

# round SIDE: starts a server (traces `off`, or on sampling the ratio SIDE of
# traces), loads it, prints req/s, p99, server and collector CPU µs per
# request, and non-2xx answers.
round() {
    local side="$1" port
    port="$(free_port)"
    local -a env=(env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    if [[ "$side" != off ]]; then
        env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port"
              OTEL_EXPORTER_OTLP_PROTOCOL="$PROTOCOL" OTEL_TRACES_SAMPLER=traceidratio
              OTEL_TRACES_SAMPLER_ARG="$side" OTEL_METRICS_EXPORTER=none)
    fi
    "${env[@]}" "${server_cpus[@]}" "$target/release/glassbox" serve --listen "127.0.0.1:$port" --no-cache \
        >"$work/banner" 2>"$work/serve.log" &
    local server=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local url="http://127.0.0.1:$port/v2/models/$MODEL/infer"
    wrk -t1 -c4 -d2s -s "$work/v2.lua" "$url" >/dev/null
    local server_cpu collector_cpu export_cpu
    server_cpu="$(cpu_ticks "$server")"
    collector_cpu="$(cpu_ticks "$collector")"
    export_cpu="$(export_ticks "$server")"
    "${others[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/v2.lua" "$url" >"$work/out"
    server_cpu=$(( $(cpu_ticks "$server") - server_cpu ))
    collector_cpu=$(( $(cpu_ticks "$collector") - collector_cpu ))
    export_cpu=$(( $(export_ticks "$server") - export_cpu ))
    local traced=""
    [[ "$side" == 1 ]] && traced="$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data @"$work/v2.json" "$url" | grep -ci '^traceresponse:' || true)"
    kill -TERM "$server"; wait "$server" 2>/dev/null || true
    if [[ "$side" == 1 && "$traced" != 1 ]]; then
        echo "the traced server answered without a traceresponse header" >&2; exit 1
    fi
    # CPU per request in µs: ticks × 1e6 / (ticks per second × requests).
    local requests hz
    requests="$(awk '/requests in/ {print $1}' "$work/out")"
    hz="$(getconf CLK_TCK)"
    per_request() { awk -v t="$1" -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}'; }
    printf '%s %s %s %s %s %s %s\n' "$side" \
        "$(awk '/^Requests\/sec/ {print $2}' "$work/out")" \
        "$(awk '$1 == "99%" {print $2}' "$work/out")" \
        "$(per_request "$server_cpu")" "$(per_request "$collector_cpu")" "$(per_request "$export_cpu")" \
        "$(awk '/Non-2xx/ {print $NF}' "$work/out")"
}

echo "== $MODEL, $ROWS row(s) per request (OIP v2), $CONNECTIONS connections, $ROUNDS rounds of $DURATION per side, OTLP over $PROTOCOL" >&2
for _ in $(seq "$ROUNDS"); do
    round off
    for r in $RATIOS; do round "$r"; done
done | tee "$work/results" | awk '{printf "traces %-5s %10s req/s  p99 %-8s  CPU per request: server %5s µs (export threads %4s), collector %4s µs%s\n", ($1 == "off" ? "off" : $1 * 100 "%"), $2, $3, $4, $6, $5, ($7 ? "  non-2xx " $7 : "")}'
awk '
    { sum[$1] += $2; cpu[$1] += $4; col[$1] += $5; ext[$1] += $6; n[$1]++ }
    END {
        off = sum["off"] / n["off"]
        offcpu = cpu["off"] / n["off"]
        printf "mean, traces off: %.0f req/s; server CPU %.1f µs per request\n", off, offcpu
        for (side in sum) if (side != "off")
            printf "mean, traces on, sampling %g %%: %.0f req/s; traced / untraced = %.3f (%.1f %% lower); server CPU %.1f µs per request (+%.1f µs, %.1f %% more; export threads %.1f µs), collector %.1f µs\n",
                side * 100, sum[side] / n[side], sum[side] / n[side] / off, 100 * (1 - sum[side] / n[side] / off),
                cpu[side] / n[side], cpu[side] / n[side] - offcpu, 100 * (cpu[side] / n[side] / offcpu - 1),
                ext[side] / n[side], col[side] / n[side]
    }' "$work/results"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

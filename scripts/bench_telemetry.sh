#!/usr/bin/env bash
# What tracing costs `glassbox serve`: requests per second (one row each by default) with
# traces off, and with every request traced (100 % sampling) and exported
# over OTLP/gRPC to a real collector (rotel, discarding what it receives),
# measured in alternating rounds of one run so that the machine's drift
# hits both sides alike. Prometheus metrics are kept in both.
#
#   scripts/bench_telemetry.sh                 # 3 rounds of 15 s per side
#   ROUNDS=5 DURATION=20s scripts/bench_telemetry.sh
#   RATIOS="1 0.1" scripts/bench_telemetry.sh  # also a side sampling 10 % of traces
#   PROTOCOL=http/protobuf scripts/bench_telemetry.sh
#   ROWS=32 scripts/bench_telemetry.sh         # 32 rows per request (default 1)
#   PIN=1 scripts/bench_telemetry.sh           # server on CPU 0, the rest on CPU 1
#
# Besides requests per second it prints the CPU time the server and the
# collector spent per request (from /proc), which the machine's drift
# moves far less than throughput on a shared VM.
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
PROTOCOL="${PROTOCOL:-grpc}"
ROWS="${ROWS:-1}"
# PIN=1: the server on CPU 0, wrk and the collector on CPU 1, so that the
# collector's work does not come out of the server's time.
PIN="${PIN:-0}"
server_cpus=() others=()
if [[ "$PIN" == 1 ]]; then server_cpus=(taskset -c 0) others=(taskset -c 1); fi

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

# cpu_ticks PID: the user and system CPU time the process has used, in
# clock ticks (fields 14 and 15 of /proc/PID/stat, all threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# export_ticks PID: the same for the threads that only export telemetry:
# the SDK's batch processor, the gRPC exporter's runtime and the HTTP
# exporter's client (thread names, cut to 15 characters by the kernel).
export_ticks() {
    local total=0 task name
    for task in /proc/"$1"/task/*; do
        name="$(cat "$task/comm" 2>/dev/null)" || continue
        case "$name" in
            OpenTelemetry.*|glassbox-otlp*|reqwest-interna*)
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

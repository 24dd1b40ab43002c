#!/usr/bin/env bash
# What hostile neighbours and overload cost a well-behaved model, measured
# from outside with wrk (docs/SECURITY.md quotes the figures):
#
#   scripts/bench_hostile.sh            # 10 s per run
#   DURATION=20s scripts/bench_hostile.sh
#
# 1. builds glassbox in release mode, compiles the friedman pipeline and the
#    `loops-forever` fixture (a model that spins to its deadline), and serves
#    both from one folder with the default limits;
# 2. spin: one-row friedman requests over 32 connections, alone, then while
#    SPINNERS clients keep loops-forever spinning to its 1 s deadline on every
#    CPU; prints both p99s and their ratio (the target: at most 2);
# 3. overload: the same requests over 32 and over 512 connections; prints
#    the successful (2xx) requests per second of each and their ratio (the
#    target: at least 0.8).
#
# wrk is Debian's `wrk` package; the load shares the machine's cores with the
# server, so the ratios, not the absolute figures, are the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10s}"
SPINNERS="${SPINNERS:-$(nproc)}"
PORT="${PORT:-18090}"

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
fi

target="${CARGO_TARGET_DIR:-target}"
echo "== building glassbox (release) and the loops-forever fixture" >&2
cargo build --release --locked -p glassbox >&2
cargo build --release --locked --target wasm32-unknown-unknown -p fixture-loops-forever \
    --target-dir "$target/guests" >&2
glassbox="$target/release/glassbox"
work="$(mktemp -d)"
trap 'kill -TERM "${server:-0}" 2>/dev/null || true; kill ${spin_pids:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/models"
"$glassbox" componentize "$target/guests/wasm32-unknown-unknown/release/fixture_loops_forever.wasm" \
    -o "$work/models/loops-forever.wasm" >&2
sk=tests/data/sklearn
"$glassbox" compile "$sk/friedman_dtree_reg.onnx" --train "$sk/friedman_dtree_reg.train.jsonl" \
    --name friedman -o "$work/models/friedman.wasm" >/dev/null

"$glassbox" serve "$work/models" --listen "127.0.0.1:$PORT" --no-cache >"$work/banner" 2>"$work/log" &
server=$!
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null || { cat "$work/log" >&2; exit 1; }

row="$(head -n1 "$sk/friedman_dtree_reg.inputs.jsonl")"
echo "{\"instances\": [$row]}" >"$work/friedman.json"
cat >"$work/friedman.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/friedman.json"):read("*a")
LUA
url="http://127.0.0.1:$PORT/v1/models/friedman:predict"

# Prints "req/s p99_ms good_req/s" of one wrk run.
measure() {
    local connections="$1" out="$work/wrk.out"
    wrk -t1 -c"$connections" -d"$DURATION" --latency -s "$work/friedman.lua" "$url" >"$out" 2>&1
    awk '
        /^Requests\/sec/ { rps = $2 }
        $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); p = v / 1000 }
                      else if (v ~ /ms$/) { sub(/ms$/, "", v); p = v }
                      else if (v ~ /s$/) { sub(/s$/, "", v); p = v * 1000 } }
        /requests in/ { total = $1 }
        /Non-2xx/ { bad = $NF }
        END { good = (total > 0) ? rps * (total - bad) / total : 0;
              printf "%.0f %.3f %.0f\n", rps, p, good }' "$out"
}

wrk -t1 -c4 -d2s -s "$work/friedman.lua" "$url" >/dev/null
echo "== spin: friedman one-row requests, 32 connections, $DURATION" >&2
read -r alone_rps alone_p99 _ < <(measure 32)
spin_pids=""
for _ in $(seq "$SPINNERS"); do
    (while :; do
        curl -s -o /dev/null -X POST -H 'content-type: application/json' \
            -d '{"instances": [{"x": 1}]}' "http://127.0.0.1:$PORT/v1/models/loops-forever:predict"
    done) &
    spin_pids="$spin_pids $!"
done
sleep 2
read -r spin_rps spin_p99 _ < <(measure 32)
kill $spin_pids 2>/dev/null || true
wait $spin_pids 2>/dev/null || true
spin_pids=""
printf 'alone:                     %8s req/s  p99 %7s ms\n' "$alone_rps" "$alone_p99"
printf 'beside %d spinning clients: %8s req/s  p99 %7s ms\n' "$SPINNERS" "$spin_rps" "$spin_p99"
awk -v a="$alone_p99" -v b="$spin_p99" 'BEGIN { printf "p99 ratio (target <= 2): %.2f\n", b / a }'
echo "demotions logged: $(grep -c "low-priority" "$work/log")"
grep "low-priority" "$work/log" | sed 's/^/  /' | cut -c1-160

sleep 2
echo "== overload: friedman one-row requests, 32 then 512 connections, $DURATION" >&2
read -r _ _ good32 < <(measure 32)
read -r _ _ good512 < <(measure 512)
printf 'good req/s at 32 connections:  %8s\n' "$good32"
printf 'good req/s at 512 connections: %8s\n' "$good512"
awk -v a="$good32" -v b="$good512" 'BEGIN { printf "goodput ratio (target >= 0.8): %.2f\n", b / a }'
rss="$(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")"
echo "server peak RSS: $rss; $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

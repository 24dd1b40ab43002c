#!/usr/bin/env python3
"""`glassbox serve` with all the reference models: cold start, memory, and
single-row requests per second under wrk.

Usage: bench_serve.py GLASSBOX_BINARY MODELS_DIR [--quick] [--json OUT]

MODELS_DIR holds the compiled reference pipelines (NAME.wasm, from
`glassbox compile`); the held-out rows come from tests/data/sklearn. Measures:

- cold start to first answer: from spawning `glassbox serve MODELS_DIR` to
  the moment every model has answered one OIP v2 request, with the compiled
  code cache empty (Cranelift compiles every model) and then warm (the cache
  the cold start wrote); the median of several starts each;
- resident memory: VmRSS once every model has answered, and the peak
  (VmHWM) after the load below;
- per model, single-row OIP v2 requests with wrk on loopback (keep-alive,
  -t1 -c32, the 200 held-out rows cycled): requests/s, p50 and p99, and
  any non-2xx answer (which fails the run: a benchmark of errors is no
  benchmark).

Uses only the standard library and wrk (Debian's `wrk` package).
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "sklearn")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def v2_body(row, kinds):
    """One row as OIP v2 tensors; `kinds` maps a feature to its datatype."""
    tensors = [{"name": k, "datatype": kinds[k], "shape": [1], "data": [v]} for k, v in row.items()]
    return json.dumps({"inputs": tensors})


def load_rows(name):
    """The held-out rows of `name`, and each feature's OIP datatype."""
    with open(os.path.join(DATA, f"{name}.meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    kinds = {f["name"]: "BYTES" if f["type"] == "string" else "FP64" for f in meta["features"]}
    with open(os.path.join(DATA, f"{name}.inputs.jsonl"), encoding="utf-8") as f:
        return [v2_body(json.loads(line), kinds) for line in f if line.strip()]


def request(port, method, path, body=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def proc_status(pid, key):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class Server:
    def __init__(self, binary, models_dir, cache_dir, log):
        self.port = free_port()
        env = dict(os.environ, GLASSBOX_CACHE_DIR=cache_dir, GLASSBOX_LOG="warn")
        # Telemetry stays off: the standard variables are cleared.
        for k in list(env):
            if k.startswith("OTEL_"):
                del env[k]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [binary, "serve", models_dir, "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )

    def first_answers(self, bodies, timeout=60.0):
        """Seconds from spawn until every model answered one request."""
        deadline = time.perf_counter() + timeout
        pending = dict(bodies)
        while pending:
            if self.proc.poll() is not None:
                raise SystemExit(f"glassbox serve exited with {self.proc.returncode}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"no answer within {timeout} s from {sorted(pending)}")
            for name in list(pending):
                try:
                    status, _ = request(self.port, "POST", f"/v2/models/{name}/infer", pending[name])
                except OSError:
                    break
                if status == 200:
                    del pending[name]
                else:
                    break
            else:
                continue
            time.sleep(0.001)
        return time.perf_counter() - self.started

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(port, name, rows, work, duration, connections):
    """Single-row requests of `name` under wrk; returns req/s, p50, p99 (ms)."""
    bodies = os.path.join(work, f"{name}.bodies")
    with open(bodies, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(r + "\n")
    script = os.path.join(work, f"{name}.lua")
    with open(script, "w", encoding="utf-8") as f:
        f.write(
            f"""
local bodies = {{}}
for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""
        )
    url = f"http://127.0.0.1:{port}/v2/models/{name}/infer"
    subprocess.run(["wrk", "-t1", "-c4", "-d1s", "-s", script, url], check=True, capture_output=True)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", "-s", script, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk against {name} saw errors:\n{out}")

    def ms(text):
        v, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    return rps, p50, p99


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("models_dir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    names = sorted(f[: -len(".wasm")] for f in os.listdir(args.models_dir) if f.endswith(".wasm"))
    rows = {n: load_rows(n) for n in names}
    first = {n: rows[n][0] for n in names}
    starts, duration = (3, "3s") if args.quick else (7, "10s")

    work = tempfile.mkdtemp(prefix="glassbox-bench-serve-")
    log = open(os.path.join(work, "serve.log"), "wb")
    result = {"models": len(names)}
    try:
        cache = os.path.join(work, "cache")
        cold, warm = [], []
        for _ in range(starts):
            shutil.rmtree(cache, ignore_errors=True)
            s = Server(args.binary, args.models_dir, cache, log)
            try:
                cold.append(s.first_answers(first))
            finally:
                s.stop()
        for _ in range(starts):
            s = Server(args.binary, args.models_dir, cache, log)
            try:
                warm.append(s.first_answers(first))
            finally:
                s.stop()
        result["cold_start_cold_cache_ms"] = statistics.median(cold) * 1e3
        result["cold_start_warm_cache_ms"] = statistics.median(warm) * 1e3
        result["cold_start_samples_ms"] = {"cold": [t * 1e3 for t in cold], "warm": [t * 1e3 for t in warm]}
        print(
            f"cold start to first answer from all {len(names)} models: "
            f"{result['cold_start_warm_cache_ms']:.0f} ms with a warm cache, "
            f"{result['cold_start_cold_cache_ms']:.0f} ms with an empty one",
            file=sys.stderr,
        )

        s = Server(args.binary, args.models_dir, cache, log)
        try:
            s.first_answers(first)
            result["rss_loaded_bytes"] = proc_status(s.proc.pid, "VmRSS")
            http = {}
            for n in names:
                rps, p50, p99 = wrk(s.port, n, rows[n], work, duration, args.connections)
                http[n] = {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99}
                print(f"  {n}: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms", file=sys.stderr)
            result["http"] = http
            result["rss_peak_bytes"] = proc_status(s.proc.pid, "VmHWM")
        finally:
            s.stop()
        print(
            f"resident memory: {result['rss_loaded_bytes'] / 2**20:.1f} MiB with all models loaded, "
            f"{result['rss_peak_bytes'] / 2**20:.1f} MiB peak under load",
            file=sys.stderr,
        )
    except BaseException:
        log.flush()
        sys.stderr.write(open(os.path.join(work, "serve.log"), encoding="utf-8", errors="replace").read()[-4000:])
        raise
    finally:
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

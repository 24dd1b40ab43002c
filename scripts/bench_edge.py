#!/usr/bin/env python3
"""An edge node's start: the runtime-only `glassbox` serving precompiled
reference models. Start to first answer, and resident memory.

Usage: bench_edge.py RUNTIME_BINARY FULL_BINARY MODELS_DIR [--quick] [--json OUT]

MODELS_DIR holds the compiled reference pipelines (NAME.wasm, from
`glassbox compile`). FULL_BINARY precompiles and signs each for this
machine (`glassbox precompile --key`), as a build machine would; then,
several times, RUNTIME_BINARY starts `glassbox serve DIR --trusted-key`
on the .cwasm files, and the script measures:

- start to first answer: from spawning the server to the first 200 answer
  to an OIP v2 request of the first model (by name); and to every model
  having answered one (one request after another: a watched directory's
  models load in the background, in parallel, after the server listens);
- resident memory (VmRSS) once every model has answered.

Also, for comparison, the full build on the components with a warm code
cache (what a node did before precompiled models). Medians of several
starts; standard library only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_serve import free_port, load_rows, proc_status, request  # noqa: E402


def start(cmd, env, log):
    """Spawns `cmd`; returns the process, its port and the spawn time."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd + ["--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=log, env=env)
    return proc, port, started


def answers(proc, port, started, bodies, timeout=60.0):
    """Seconds from spawn to the first answer, and to every model's."""
    deadline = time.perf_counter() + timeout
    first = None
    for name, body in bodies.items():
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"glassbox serve exited with {proc.returncode}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"no answer from {name} within {timeout} s")
            try:
                status, _ = request(port, "POST", f"/v2/models/{name}/infer", body)
            except OSError:
                status = None
            if status == 200:
                break
            # Not listening yet, or (a watched directory loads in the
            # background) the model not loaded yet.
            time.sleep(0.0005)
        if first is None:
            first = time.perf_counter() - started
    return first, time.perf_counter() - started


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runtime")
    ap.add_argument("full")
    ap.add_argument("models_dir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    names = sorted(f[: -len(".wasm")] for f in os.listdir(args.models_dir) if f.endswith(".wasm"))
    bodies = {n: load_rows(n)[0] for n in names}
    starts = 5 if args.quick else 15

    work = tempfile.mkdtemp(prefix="glassbox-bench-edge-")
    log = open(os.path.join(work, "serve.log"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(GLASSBOX_LOG="warn", GLASSBOX_CACHE_DIR=os.path.join(work, "cache"))
    env.pop("GLASSBOX_TRUSTED_KEYS", None)
    result = {"models": len(names)}
    try:
        key = os.path.join(work, "fleet")
        subprocess.run([args.full, "keygen", "--out", key], check=True, capture_output=True)
        cwasm = os.path.join(work, "precompiled")
        os.makedirs(cwasm)
        t0 = time.perf_counter()
        for n in names:
            subprocess.run([args.full, "precompile", os.path.join(args.models_dir, f"{n}.wasm"),
                            "-o", os.path.join(cwasm, f"{n}.cwasm"), "--key", key + ".key"],
                           check=True, capture_output=True, env=env)
        result["precompile_s"] = time.perf_counter() - t0
        sizes = {n: os.path.getsize(os.path.join(cwasm, f"{n}.cwasm")) for n in names}
        result["cwasm_bytes"] = sizes
        print(f"precompiled {len(names)} models in {result['precompile_s']:.1f} s "
              f"({sum(sizes.values()) / 1e6:.1f} MB of .cwasm)", file=sys.stderr)

        def measure(cmd, label):
            # The first start writes what later ones map (the runtime's
            # verified code in the cache directory): told apart.
            proc, port, started = start(cmd, env, log)
            try:
                _, first_start = answers(proc, port, started, bodies, timeout=300)
            finally:
                stop(proc)
            firsts, alls, rss = [], [], []
            for _ in range(starts):
                proc, port, started = start(cmd, env, log)
                try:
                    first, every = answers(proc, port, started, bodies)
                    firsts.append(first)
                    alls.append(every)
                    rss.append(proc_status(proc.pid, "VmRSS"))
                finally:
                    stop(proc)
            out = {
                "first_answer_ms": statistics.median(firsts) * 1e3,
                "every_model_answered_ms": statistics.median(alls) * 1e3,
                "rss_bytes": statistics.median(rss),
                "samples_first_ms": [t * 1e3 for t in firsts],
                "first_start_every_model_ms": first_start * 1e3,
            }
            print(f"{label}: start to first answer {out['first_answer_ms']:.1f} ms "
                  f"(every model answered {out['every_model_answered_ms']:.1f} ms), "
                  f"RSS {out['rss_bytes'] / 2**20:.1f} MiB, median of {starts}; "
                  f"the very first start {first_start * 1e3:.1f} ms", file=sys.stderr)
            return out

        result["runtime_precompiled"] = measure(
            [args.runtime, "serve", cwasm, "--trusted-key", key + ".pub"],
            f"runtime build, {len(names)} precompiled models")
        # The full build on the components (its first start fills the cache).
        full = [args.full, "serve", args.models_dir]
        result["full_warm_cache"] = measure(full, f"full build, {len(names)} components, warm cache")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(result, f, indent=2)
    except BaseException:
        log.flush()
        sys.stderr.write(open(os.path.join(work, "serve.log"), encoding="utf-8", errors="replace").read()[-4000:])
        raise
    finally:
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

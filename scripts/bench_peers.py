#!/usr/bin/env python3
"""Benchmark onnxruntime on the reference scikit-learn models.

For every tests/data/sklearn/NAME.onnx this measures onnxruntime on one
thread (intra_op = inter_op = 1, sequential execution):

- one-row latency: median and p99 over many single-row calls, rows cycled
  from NAME.inputs.jsonl;
- batch throughput: the rows of NAME.train.jsonl then NAME.inputs.jsonl,
  repeated to fill 10,000 rows, one call, rows per second from the median of
  several runs. Not the 200 held-out rows alone: a 200-row cycle repeats
  often enough for the CPU's branch predictor to learn a tree's path per row,
  which made onnxruntime's branching tree walk four times faster on
  friedman_dtree_reg (78 M rows/s against 20 M on distinct rows) than it is on
  traffic that does not repeat.

Input tensors are built before timing starts; only session.run is timed.
scikit-learn itself is not measured: the ONNX files do not carry the fitted
Python estimators, so there is nothing to call.

Run with the pinned environment from the repository root:

    PY="$(scripts/pyenv.sh | tail -n1)"
    "$PY" scripts/bench_peers.py --quick --json target/bench_peers.json
"""

import argparse
import glob
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

BATCH_ROWS = 10_000


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def make_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def feature_names(meta):
    return [f["name"] for f in meta["features"]]


def build_feed(sess, meta, rows):
    """Feed dict for `rows` (list of dicts keyed by feature name).

    One float32 input `[N, F]` (columns in meta feature order, null -> NaN),
    or one `[N, 1]` input per feature named like the feature: float32 with
    null -> NaN, or string with null -> ""."""
    inputs = sess.get_inputs()
    names = feature_names(meta)
    if len(inputs) == 1:
        inp = inputs[0]
        if inp.type != "tensor(float)":
            raise SystemExit(f"unsupported single input type {inp.type}")
        data = np.array(
            [[np.nan if r.get(n) is None else r[n] for n in names] for r in rows],
            dtype=np.float32,
        )
        return {inp.name: data}
    feed = {}
    for inp in inputs:
        col = [r.get(inp.name) for r in rows]
        if inp.type == "tensor(float)":
            arr = np.array([np.nan if v is None else v for v in col], dtype=np.float32)
        elif inp.type == "tensor(string)":
            arr = np.array(["" if v is None else str(v) for v in col], dtype=object)
        elif inp.type == "tensor(int64)":
            arr = np.array([0 if v is None else int(v) for v in col], dtype=np.int64)
        elif inp.type == "tensor(double)":
            arr = np.array([np.nan if v is None else v for v in col], dtype=np.float64)
        else:
            raise SystemExit(f"unsupported input type {inp.type} for {inp.name}")
        feed[inp.name] = arr.reshape(-1, 1)
    return feed


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def bench_one_row(sess, feeds, iterations, warmup):
    run = sess.run
    n = len(feeds)
    for i in range(warmup):
        run(None, feeds[i % n])
    times = []
    clock = time.perf_counter_ns
    for i in range(iterations):
        feed = feeds[i % n]
        t0 = clock()
        run(None, feed)
        times.append(clock() - t0)
    times.sort()
    return statistics.median(times) / 1e3, percentile(times, 99) / 1e3


def bench_batch(sess, feed, runs, warmup):
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return BATCH_ROWS / statistics.median(times)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations (under a minute in all)")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    ap.add_argument(
        "--data",
        default=os.path.join(root, "tests", "data", "sklearn"),
        help="folder with NAME.onnx, NAME.meta.json and NAME.inputs.jsonl",
    )
    ap.add_argument("--models", nargs="*", help="only these model names")
    args = ap.parse_args()

    if args.quick:
        one_row_iters, one_row_warmup, batch_runs, batch_warmup = 2_000, 100, 5, 1
    else:
        one_row_iters, one_row_warmup, batch_runs, batch_warmup = 20_000, 500, 15, 2

    paths = sorted(glob.glob(os.path.join(args.data, "*.onnx")))
    if args.models:
        paths = [p for p in paths if os.path.basename(p)[: -len(".onnx")] in args.models]
    if not paths:
        raise SystemExit(f"no models in {args.data}")

    print(
        f"onnxruntime {ort.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}; 1 thread, sequential; "
        f"{'quick' if args.quick else 'full'} mode "
        f"({one_row_iters} one-row calls, {batch_runs} x {BATCH_ROWS}-row batches)",
        file=sys.stderr,
    )
    print("scikit-learn: skipped (the ONNX files carry no fitted estimator to call)", file=sys.stderr)

    results = {}
    started = time.perf_counter()
    for path in paths:
        name = os.path.basename(path)[: -len(".onnx")]
        with open(os.path.join(args.data, f"{name}.meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        rows = load_jsonl(os.path.join(args.data, f"{name}.inputs.jsonl"))
        sess = make_session(path)

        one_row_feeds = [build_feed(sess, meta, [r]) for r in rows]
        pool = load_jsonl(os.path.join(args.data, f"{name}.train.jsonl")) + rows
        tiled = [pool[i % len(pool)] for i in range(BATCH_ROWS)]
        batch_feed = build_feed(sess, meta, tiled)

        median_us, p99_us = bench_one_row(sess, one_row_feeds, one_row_iters, one_row_warmup)
        rows_per_s = bench_batch(sess, batch_feed, batch_runs, batch_warmup)
        results[name] = {
            "onnxruntime": {
                "one_row_median_us": round(median_us, 2),
                "one_row_p99_us": round(p99_us, 2),
                "batch_rows_per_s": round(rows_per_s, 1),
            }
        }
        print(f"  {name}: done ({time.perf_counter() - started:.1f} s)", file=sys.stderr)

    header = f"{'model':<22} {'1-row median us':>16} {'1-row p99 us':>13} {'10k batch rows/s':>17}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        o = r["onnxruntime"]
        print(
            f"{name:<22} {o['one_row_median_us']:>16.1f} {o['one_row_p99_us']:>13.1f} "
            f"{o['batch_rows_per_s']:>17,.0f}"
        )
    print("(onnxruntime only; scikit-learn not measurable from the ONNX files)")

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

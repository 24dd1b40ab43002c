#!/usr/bin/env python3
"""Where tree ensembles stop paying as code: the first N trees of
synth_rf_large (a random forest of 200 trees, 114,866 nodes) for several N,
each compiled as code and with the data walk, batch rows/s side by side.

    PY="$(scripts/pyenv.sh | tail -n1)"
    "$PY" scripts/tree_crossover.py [--trees 10,25,50,100,200] [--rows target/bench/rows]

Writes target/bench/crossover/synth_rf_N.{onnx,train.jsonl,inputs.jsonl}
(the forest's class weights are left as they are: the answers change with
N, the work per row is what is measured), then runs the compiled-model
benchmark (host/benches/compiled.rs) on each with --trees code and
--trees walk, and prints nodes, rows/s each way and their ratio. The
batch is synth_rf_large's distinct rows from scripts/bench_rows.py.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

import onnx
from onnx import helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "sklearn")


def truncated(model, keep):
    """A copy of `model` whose tree ensemble keeps trees 0..keep-1."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for node in m.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        tree_ids = list(attrs["nodes_treeids"].ints)
        keep_nodes = [i for i, t in enumerate(tree_ids) if t < keep]
        prefix = "class" if node.op_type.endswith("Classifier") else "target"
        w_trees = list(attrs[f"{prefix}_treeids"].ints)
        keep_w = [i for i, t in enumerate(w_trees) if t < keep]
        nodes = len(keep_nodes)
        new = []
        for a in node.attribute:
            if a.name.startswith("nodes_"):
                values = onnx.helper.get_attribute_value(a)
                new.append(helper.make_attribute(a.name, [values[i] for i in keep_nodes]))
            elif a.name.startswith(prefix + "_"):
                values = onnx.helper.get_attribute_value(a)
                new.append(helper.make_attribute(a.name, [values[i] for i in keep_w]))
            else:
                new.append(a)
        del node.attribute[:]
        node.attribute.extend(new)
        return m, nodes
    sys.exit("no tree ensemble in the model")


def bench(name, out_dir, rows_dir, mode):
    cmd = [
        "cargo", "bench", "-q", "-p", "glassbox", "--bench", "compiled", "--",
        "--quick", "--only", name, "--dir", out_dir, "--trees", mode,
    ]
    if rows_dir:
        cmd += ["--rows", rows_dir]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    line = [l for l in res.stderr.splitlines() if l.startswith(name + " ")][-1]
    # columns: model, 1row µs, p99 µs, warm µs, batch r/s, ...
    return float(re.split(r"\s+", line.strip())[4])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", default="10,25,50,100,200")
    ap.add_argument("--rows", default=os.path.join(ROOT, "target", "bench", "rows"))
    args = ap.parse_args()
    out_dir = os.path.join(ROOT, "target", "bench", "crossover")
    os.makedirs(out_dir, exist_ok=True)
    model = onnx.load(os.path.join(DATA, "synth_rf_large.onnx"))
    rows_dir = os.path.join(out_dir, "rows")
    os.makedirs(rows_dir, exist_ok=True)
    batch = os.path.join(args.rows, "synth_rf_large.batch.jsonl")
    print(f"{'trees':>6} {'nodes':>8} {'code r/s':>11} {'walk r/s':>11} {'code/walk':>9}")
    for n in [int(t) for t in args.trees.split(",")]:
        name = f"synth_rf_{n}"
        m, nodes = truncated(model, n)
        onnx.save(m, os.path.join(out_dir, name + ".onnx"))
        for part in ("train", "inputs"):
            shutil.copy(os.path.join(DATA, f"synth_rf_large.{part}.jsonl"),
                        os.path.join(out_dir, f"{name}.{part}.jsonl"))
        have_rows = os.path.exists(batch)
        if have_rows:
            shutil.copy(batch, os.path.join(rows_dir, name + ".batch.jsonl"))
        code = bench(name, out_dir, rows_dir if have_rows else None, "code")
        walk = bench(name, out_dir, rows_dir if have_rows else None, "walk")
        print(f"{n:>6} {nodes:>8} {code:>11.0f} {walk:>11.0f} {code / walk:>9.2f}", flush=True)


if __name__ == "__main__":
    main()

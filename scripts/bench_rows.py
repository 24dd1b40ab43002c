#!/usr/bin/env python3
"""Write the benchmark's 10,000-row batches: distinct rows, not a cycle.

    python scripts/bench_rows.py --out target/bench/rows [--data tests/data/sklearn]

For every reference model DATA/NAME.onnx this writes OUT/NAME.batch.jsonl:
10,000 rows in the format of NAME.inputs.jsonl (one JSON object per line,
the same field names in the same order, `null` = missing). The batch the
suite used to score was the training rows then the held-out rows repeated to
10,000; a repeating sequence of a few hundred or thousand rows lets the CPU's
branch predictor learn it, which flatters branching tree walks. Here:

- the first pass is NAME.train.jsonl then NAME.inputs.jsonl as they are
  (2,200 rows at most in the reference set: the real rows come first);
- then the pool again, pass after pass, each pass in a fresh random order,
  every row with seeded noise on its numeric fields (numpy default_rng
  seeded from 12345 and the model's name):
  - continuous columns: + N(0, (3 % of the column's standard deviation)²),
    rounded to the column's decimals (the most any of its values has,
    at most 6) and clipped to the column's observed range;
  - integer-valued columns (every value whole): + round(N(0, s²)) with
    s = max(5 % of the std, 0.3 x min(1, std)), rounded to the column's
    step (10 for a column of multiples of 10, ...), clipped to the
    observed range: a few ±1 moves on a pixel of 0-16 (about 1 in 10), none
    on a nearly-constant column;
  - left alone: binary columns (two distinct values, e.g. diabetes's sex),
    constant columns, categorical (string) fields, and nulls, which stay
    null;
- every row is checked to be distinct from all others as the float32 row a
  runtime sees (a row that comes out equal to an earlier one is drawn
  again, then with the noise doubled at each further try); the script fails
  if it cannot make 10,000.

The noise is small on purpose (the rows stay plausible for the model), so a
perturbed row often takes the same tree paths as the row it came from
(friedman_dtree_reg's single tree: about 9 in 10 of them; synth_lgbm: 1 in
10); the shuffled order is what keeps the sequence of paths from repeating.
The output is deterministic for a given data folder (numpy's PCG64
generator).
"""

import argparse
import glob
import json
import math
import os
import sys
import zlib

import numpy as np

BATCH_ROWS = 10_000
SEED = 12345
CONTINUOUS_NOISE = 0.03  # of the column's std
INTEGER_NOISE = 0.05  # of the column's std, at least 0.3 x min(1, std)
MAX_DECIMALS = 6


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def decimals(v):
    """Digits after the point in the shortest repr of float v."""
    r = repr(float(v))
    if "e" in r or "E" in r:
        mant, _, exp = r.lower().partition("e")
        d = len(mant.partition(".")[2].rstrip("0")) - int(exp)
        return max(0, d)
    frac = r.partition(".")[2].rstrip("0")
    return len(frac)


class Column:
    """How one numeric field is perturbed, from the pool's values."""

    def __init__(self, name, values):
        self.name = name
        present = [v for v in values if v is not None]
        self.is_int_typed = bool(present) and all(isinstance(v, int) and not isinstance(v, bool) for v in present)
        a = np.array(present, dtype=np.float64)
        self.kind = "fixed"
        if len(a) == 0:
            return
        self.lo, self.hi = float(a.min()), float(a.max())
        self.std = float(a.std())
        n_unique = len(np.unique(a))
        if n_unique <= 2 or self.std == 0.0:
            return  # constant or binary: left alone
        if np.all(a == np.round(a)):
            self.kind = "integer"
            self.sigma = max(INTEGER_NOISE * self.std, 0.3 * min(1.0, self.std))
            step = 1
            while step < 1e6 and np.all(np.mod(a, step * 10) == 0):
                step *= 10
            self.step = step
        else:
            self.kind = "continuous"
            self.sigma = CONTINUOUS_NOISE * self.std
            self.decimals = min(MAX_DECIMALS, max(decimals(v) for v in present))

    def perturb(self, v, rng, scale):
        if v is None or self.kind == "fixed":
            return v
        if self.kind == "integer":
            delta = round(rng.normal(0.0, self.sigma * scale) / self.step) * self.step
            x = min(self.hi, max(self.lo, float(v) + delta))
            return int(x) if self.is_int_typed else float(x)
        x = float(v) + rng.normal(0.0, self.sigma * scale)
        x = round(min(self.hi, max(self.lo, x)), self.decimals) + 0.0
        return x


def float32_key(row, names):
    key = []
    for n in names:
        v = row.get(n)
        if v is None or isinstance(v, str):
            key.append(v)
        else:
            key.append(float(np.float32(v)))
    return tuple(key)


def batch_rows(name, pool, n=BATCH_ROWS, seed=SEED):
    """n distinct rows from pool (list of dicts), as described above;
    returns (rows, stats)."""
    names = list(pool[0].keys())
    columns = {}
    for c in names:
        values = [r.get(c) for r in pool]
        if any(isinstance(v, str) for v in values):
            continue  # categorical
        columns[c] = Column(c, values)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    seen = set()
    rows = []
    redrawn = 0
    order = []
    for i in range(n):
        first_pass = i < len(pool)
        if not order:
            # Later passes visit the pool in a fresh order each.
            order = list(range(len(pool))) if first_pass else list(rng.permutation(len(pool)))
            order.reverse()
        base = pool[order.pop()]
        scale = 1.0
        row = base
        for attempt in range(40):
            if not first_pass or attempt > 0:
                row = {k: (columns[k].perturb(v, rng, scale) if k in columns else v) for k, v in base.items()}
            key = float32_key(row, names)
            if key not in seen:
                break
            redrawn += 1
            if attempt > 0:
                scale *= 2.0
        else:
            raise SystemExit(f"{name}: could not make row {i} distinct from the others")
        seen.add(key)
        rows.append(row)
    assert len(seen) == n == len(rows)
    kinds = {}
    for c in columns.values():
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    kinds["categorical"] = len(names) - len(columns)
    return rows, {"pool": len(pool), "redrawn": redrawn, "columns": kinds}


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, allow_nan=False) + "\n")


def verify(path, names, n):
    """Reads the file back: n rows, the field names in order, all distinct
    as float32 rows."""
    rows = load_jsonl(path)
    if len(rows) != n:
        raise SystemExit(f"{path}: {len(rows)} rows, wanted {n}")
    keys = set()
    for r in rows:
        if list(r.keys()) != names:
            raise SystemExit(f"{path}: fields {list(r.keys())} differ from inputs.jsonl's {names}")
        keys.add(float32_key(r, names))
    if len(keys) != n:
        raise SystemExit(f"{path}: only {len(keys)} distinct rows of {n}")
    return len(keys)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, metavar="DIR", help="where to write NAME.batch.jsonl")
    ap.add_argument(
        "--data",
        default=os.path.join(root, "tests", "data", "sklearn"),
        help="folder with NAME.onnx, NAME.train.jsonl and NAME.inputs.jsonl",
    )
    ap.add_argument("--rows", type=int, default=BATCH_ROWS, help=f"rows per batch (default {BATCH_ROWS})")
    ap.add_argument("--models", nargs="*", help="only these model names")
    args = ap.parse_args()

    names = sorted(os.path.basename(p)[: -len(".onnx")] for p in glob.glob(os.path.join(args.data, "*.onnx")))
    if args.models:
        names = [n for n in names if n in args.models]
    if not names:
        raise SystemExit(f"no models in {args.data}")
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        held = load_jsonl(os.path.join(args.data, f"{name}.inputs.jsonl"))
        pool = load_jsonl(os.path.join(args.data, f"{name}.train.jsonl")) + held
        # The held-out file's field order is the one a batch keeps.
        fields = list(held[0].keys())
        pool = [{k: r.get(k) for k in fields} for r in pool]
        rows, stats = batch_rows(name, pool, args.rows)
        path = os.path.join(args.out, f"{name}.batch.jsonl")
        write_jsonl(path, rows)
        distinct = verify(path, fields, args.rows)
        cols = ", ".join(f"{v} {k}" for k, v in stats["columns"].items() if v)
        print(
            f"  {name}: {distinct:,} distinct rows (first {min(stats['pool'], args.rows):,} as in the "
            f"files, the rest perturbed; {stats['redrawn']} redrawn; columns: {cols}) -> {path}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()

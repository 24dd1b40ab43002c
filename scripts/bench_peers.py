#!/usr/bin/env python3
"""Benchmark onnxruntime and scikit-learn on the reference models.

For every tests/data/sklearn/NAME.onnx this measures onnxruntime on one
thread (intra_op = inter_op = 1, sequential execution), and scikit-learn
(n_jobs=1) on a pipeline of the same steps and hyperparameters:

- one-row latency: median and p99 over many single-row calls, rows cycled
  from NAME.inputs.jsonl;
- batch throughput: 10,000 rows in one call, rows per second from the
  median of several runs. With `--rows DIR` the rows are DIR/NAME.batch.jsonl,
  10,000 distinct rows written by scripts/bench_rows.py (what
  scripts/bench.sh uses); without it, the rows of NAME.train.jsonl then
  NAME.inputs.jsonl, repeated to fill 10,000 rows. Not the 200 held-out rows
  alone: a 200-row cycle repeats often enough for the CPU's branch predictor
  to learn a tree's path per row, which made onnxruntime's branching tree
  walk four times faster on friedman_dtree_reg (78 M rows/s against 20 M on
  distinct rows) than it is on traffic that does not repeat; a cycle of a
  couple of thousand rows still repeats, distinct rows do not.

Input tensors are built before timing starts; only session.run is timed.

scikit-learn: the ONNX files do not carry the fitted Python estimators, so
the pipeline is rebuilt from the steps in NAME.meta.json (the same
estimators, hyperparameters and seed, listed in SKLEARN below) and fitted on
NAME.train.jsonl with onnxruntime's answers on those rows as the targets
(friedman_dtree_reg, synth_rf_large and synth_lgbm: on their whole training
sets, with their true targets, regenerated from the seeded scikit-learn
generators; synth_lgbm through tests/data/sklearn/generate_lgbm.py, so its
refit is LightGBM's model itself). synth_lgbm's "scikit-learn side" is
LightGBM's scikit-learn API, lightgbm.LGBMClassifier (needs
`scripts/pyenv.sh --trees` or `--coverage`).
What is timed is what a Python service does per request: predict_proba (or
predict for regressors) on a pandas DataFrame with the feature names, built
before timing. The refit model has the same shape as the original but its
own trees (churn_coltrans_rf's file holds 2,000 of its 3,800 training rows,
so its forest is smaller), so the script prints how often it agrees with
onnxruntime on the held-out rows and the node counts.

Run with the pinned environment from the repository root:

    PY="$(scripts/pyenv.sh --trees | tail -n1)"
    "$PY" scripts/bench_rows.py --out target/bench/rows
    "$PY" scripts/bench_peers.py --quick --rows target/bench/rows --json target/bench_peers.json
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
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeRegressor

BATCH_ROWS = 10_000
SEED = 12345


def churn_pipeline():
    num = ["age", "income", "tenure_months", "support_calls", "balance"]
    cat = ["plan", "region", "device"]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(missing_values="", strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cat,
            ),
        ]
    )
    rf = RandomForestClassifier(
        n_estimators=100, max_depth=10, min_samples_leaf=2, max_features="sqrt", random_state=SEED, n_jobs=1
    )
    return Pipeline([("pre", pre), ("clf", rf)])


# The steps of each reference pipeline, as NAME.meta.json lists them.
SKLEARN = {
    "digits_logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000)),
    "digits_mlp": lambda: make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(128, 64), alpha=0.001, max_iter=400, random_state=SEED),
    ),
    "diabetes_linreg": lambda: make_pipeline(MinMaxScaler(), LinearRegression()),
    "bc_impute_sgd": lambda: make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        SGDClassifier(loss="log_loss", alpha=0.001, max_iter=5000, tol=1e-6, random_state=SEED),
    ),
    "bc_gbc": lambda: GradientBoostingClassifier(n_estimators=150, max_depth=3, random_state=SEED),
    "friedman_dtree_reg": lambda: DecisionTreeRegressor(max_depth=8, min_samples_leaf=5, random_state=SEED),
    "synth_rf_large": lambda: RandomForestClassifier(
        n_estimators=200, max_depth=12, min_samples_leaf=5, max_features="sqrt", random_state=SEED, n_jobs=1
    ),
    "churn_coltrans_rf": churn_pipeline,
    "synth_lgbm": lambda: lgbm_classifier(),
}


def lgbm_classifier():
    """synth_lgbm's model, as tests/data/sklearn/generate_lgbm.py fits it."""
    try:
        import lightgbm
    except ImportError:
        raise SystemExit("synth_lgbm needs lightgbm: use the venv of `scripts/pyenv.sh --trees`")
    return lightgbm.LGBMClassifier(
        n_estimators=100, num_leaves=31, deterministic=True, n_jobs=1, random_state=SEED, verbose=-1
    )


def lgbm_generator(data_dir):
    """tests/data/sklearn/generate_lgbm.py as a module (its dataset()
    regenerates synth_lgbm's training set)."""
    import importlib.util

    path = os.path.join(data_dir, "generate_lgbm.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("generate_lgbm", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def regenerated(name, meta, heldout_rows, train_rows=None, data_dir=None):
    """The full training set, with its true targets, for the reference
    models whose data a seeded scikit-learn generator makes (the training
    files hold 2,000 of their rows): the generator's rows minus the held-out
    ones, in the generator's order (synth_lgbm: its generator's training
    split). None for the others, or when the regenerated rows do not match
    the files."""
    from sklearn.datasets import make_classification, make_friedman1

    if name == "synth_lgbm":
        gen = lgbm_generator(data_dir) if data_dir else None
        if gen is None:
            return None
        X_tr, y_tr, X_te, _ = gen.dataset()
        names = feature_names(meta)
        as_rows = lambda X: [{n: (None if np.isnan(v) else float(v)) for n, v in zip(names, x)} for x in X]
        train = as_rows(X_tr)
        if as_rows(X_te) != heldout_rows or (train_rows is not None and train[: len(train_rows)] != train_rows):
            return None
        return train, y_tr
    if name == "synth_rf_large":
        X, y = make_classification(
            n_samples=6000, n_features=40, n_informative=20, n_redundant=5, flip_y=0.02, random_state=SEED
        )
    elif name == "friedman_dtree_reg":
        X, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=SEED)
        X = X.round(4)
    else:
        return None
    names = feature_names(meta)
    held = np.array([[r[n] for n in names] for r in heldout_rows])
    # A held-out row matches a generated one to the file's rounding.
    dist = np.abs(X[:, None, :] - held[None, :, :]).max(axis=2)
    keep = dist.min(axis=1) > 1e-3
    if len(X) - keep.sum() != len(heldout_rows) or keep.sum() != meta["n_train"]:
        return None
    train = [dict(zip(names, map(float, x))) for x in X[keep]]
    return train, y[keep]


def frame(meta, rows):
    """The rows as a DataFrame in feature order: NaN for a missing number,
    "" for a missing category (the pipelines' missing marker)."""
    cols = {}
    for f in meta["features"]:
        n = f["name"]
        if f["type"] == "string":
            cols[n] = ["" if r.get(n) is None else str(r[n]) for r in rows]
        else:
            cols[n] = np.array([np.nan if r.get(n) is None else r[n] for r in rows], dtype=np.float64)
    return pd.DataFrame(cols)


def node_count(est):
    if hasattr(est, "booster_"):  # LightGBM
        return sum(2 * t["num_leaves"] - 1 for t in est.booster_.dump_model()["tree_info"])
    if hasattr(est, "tree_"):
        return est.tree_.node_count
    if hasattr(est, "estimators_"):
        ests = np.ravel(est.estimators_)
        return sum(e.tree_.node_count for e in ests)
    if hasattr(est, "steps"):
        return node_count(est.steps[-1][1])
    return None


def onnx_nodes(path):
    """Tree nodes in the ONNX file (0 for models without trees)."""
    import onnx

    total = 0
    for node in onnx.load(path).graph.node:
        for a in node.attribute:
            if a.name == "nodes_nodeids":
                total += len(a.ints)
    return total


def sklearn_model(name, meta, sess, train_rows, heldout_rows, data_dir=None):
    """Fits the pipeline of `name` on the training rows, with onnxruntime's
    answers as targets; returns (pipeline, predict function, agreement)."""
    full = regenerated(name, meta, heldout_rows, train_rows, data_dir)
    if full is not None:
        train_rows, y = full
    else:
        y = np.ravel(sess.run(None, build_feed(sess, meta, train_rows))[0])
    pipe = SKLEARN[name]()
    X = frame(meta, train_rows)
    if meta["task"] == "regression":
        pipe.fit(X, y)
        predict = pipe.predict
    else:
        pipe.fit(X, y)
        predict = pipe.predict_proba
    held = frame(meta, heldout_rows)
    ort_held = np.ravel(sess.run(None, build_feed(sess, meta, heldout_rows))[0])
    mine = pipe.predict(held)
    if meta["task"] == "regression":
        scale = np.std(ort_held) or 1.0
        agreement = 1.0 - float(np.mean(np.abs(mine - ort_held))) / float(scale)
    else:
        agreement = float(np.mean(mine == ort_held))
    return pipe, predict, agreement


def bench_sklearn(predict, one_rows, batch_frame, iterations, runs):
    n_batch = len(batch_frame)
    for i in range(min(20, iterations)):
        predict(one_rows[i % len(one_rows)])
    times = []
    clock = time.perf_counter_ns
    for i in range(iterations):
        x = one_rows[i % len(one_rows)]
        t0 = clock()
        predict(x)
        times.append(clock() - t0)
    times.sort()
    predict(batch_frame)
    batch = []
    for _ in range(runs):
        t0 = time.perf_counter()
        predict(batch_frame)
        batch.append(time.perf_counter() - t0)
    return statistics.median(times) / 1e3, percentile(times, 99) / 1e3, n_batch / statistics.median(batch)


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


def bench_batch(sess, feed, runs, warmup, n_rows=BATCH_ROWS):
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return n_rows / statistics.median(times)


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
    ap.add_argument(
        "--rows",
        metavar="DIR",
        help="batch rows from DIR/NAME.batch.jsonl (scripts/bench_rows.py) instead of the "
        "training and held-out rows cycled to 10,000",
    )
    ap.add_argument("--models", nargs="*", help="only these model names")
    args = ap.parse_args()

    if args.quick:
        one_row_iters, one_row_warmup, batch_runs, batch_warmup = 2_000, 100, 5, 1
        sk_iters, sk_runs = 100, 2
    else:
        one_row_iters, one_row_warmup, batch_runs, batch_warmup = 20_000, 500, 15, 2
        sk_iters, sk_runs = 500, 5

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
    batch_source = (
        f"{BATCH_ROWS:,} distinct rows per model from {args.rows}/NAME.batch.jsonl (scripts/bench_rows.py)"
        if args.rows
        else f"the training rows then the held-out rows, cycled to {BATCH_ROWS:,}"
    )
    print(f"batch: {batch_source}", file=sys.stderr)
    import sklearn

    print(
        f"scikit-learn {sklearn.__version__}, pandas {pd.__version__}: pipelines refitted from the "
        f"meta files' steps ({sk_iters} one-row calls, {sk_runs} batches)",
        file=sys.stderr,
    )

    results = {}
    started = time.perf_counter()
    for path in paths:
        name = os.path.basename(path)[: -len(".onnx")]
        with open(os.path.join(args.data, f"{name}.meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        rows = load_jsonl(os.path.join(args.data, f"{name}.inputs.jsonl"))
        sess = make_session(path)

        one_row_feeds = [build_feed(sess, meta, [r]) for r in rows]
        if args.rows:
            batch_path = os.path.join(args.rows, f"{name}.batch.jsonl")
            if not os.path.exists(batch_path):
                raise SystemExit(f"{batch_path} is missing: run scripts/bench_rows.py --out {args.rows}")
            tiled = load_jsonl(batch_path)
        else:
            pool = load_jsonl(os.path.join(args.data, f"{name}.train.jsonl")) + rows
            tiled = [pool[i % len(pool)] for i in range(BATCH_ROWS)]
        batch_feed = build_feed(sess, meta, tiled)

        median_us, p99_us = bench_one_row(sess, one_row_feeds, one_row_iters, one_row_warmup)
        rows_per_s = bench_batch(sess, batch_feed, batch_runs, batch_warmup, len(tiled))

        train_rows = load_jsonl(os.path.join(args.data, f"{name}.train.jsonl"))
        pipe, predict, agreement = sklearn_model(name, meta, sess, train_rows, rows, args.data)
        sk_one = [frame(meta, [r]) for r in rows]
        sk_median, sk_p99, sk_rows = bench_sklearn(predict, sk_one, frame(meta, tiled), sk_iters, sk_runs)
        results[name] = {
            "onnxruntime": {
                "one_row_median_us": round(median_us, 2),
                "one_row_p99_us": round(p99_us, 2),
                "batch_rows_per_s": round(rows_per_s, 1),
            },
            "sklearn": {
                "one_row_median_us": round(sk_median, 2),
                "one_row_p99_us": round(sk_p99, 2),
                "batch_rows_per_s": round(sk_rows, 1),
                "agreement_with_onnxruntime": round(agreement, 4),
                "tree_nodes": node_count(pipe) and int(node_count(pipe)),
                "onnx_tree_nodes": onnx_nodes(path),
            },
        }
        print(f"  {name}: done ({time.perf_counter() - started:.1f} s)", file=sys.stderr)

    header = (
        f"{'model':<20} {'ort 1-row us':>13} {'p99':>7} {'ort rows/s':>12} "
        f"{'sklearn 1-row us':>17} {'p99':>8} {'sklearn rows/s':>15} {'agree':>6} {'nodes (onnx)':>16}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        if name.startswith("_"):
            continue
        o, k = r["onnxruntime"], r["sklearn"]
        nodes = f"{k['tree_nodes']} ({k['onnx_tree_nodes']})" if k["tree_nodes"] else "-"
        print(
            f"{name:<20} {o['one_row_median_us']:>13.1f} {o['one_row_p99_us']:>7.1f} "
            f"{o['batch_rows_per_s']:>12,.0f} {k['one_row_median_us']:>17.1f} {k['one_row_p99_us']:>8.1f} "
            f"{k['batch_rows_per_s']:>15,.0f} {k['agreement_with_onnxruntime']:>6.3f} {nodes:>16}"
        )

    results["_versions"] = {
        "Python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    if "synth_lgbm" in results:
        import lightgbm

        results["_versions"]["lightgbm"] = lightgbm.__version__
    results["_batch"] = batch_source
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

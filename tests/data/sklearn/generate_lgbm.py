#!/usr/bin/env python3
"""Generate the LightGBM reference model `synth_lgbm` in tests/data/sklearn/.

A gradient-boosted LightGBM classifier of the size tree compilers are usually
measured on (100 trees of up to 31 leaves), next to the eight scikit-learn
pipelines. Run from the repository root with the pinned environment plus its
coverage extras (LightGBM, onnxmltools):

    PY="$(scripts/pyenv.sh --coverage | tail -n1)"
    "$PY" tests/data/sklearn/generate_lgbm.py

It (re)writes synth_lgbm.onnx, .train.jsonl, .inputs.jsonl, .expected.jsonl
and .meta.json next to this file, in the format of the other reference
models (README.md); with `--check` it writes nothing and fails when a file
would change. The output is byte-for-byte reproducible with the pinned
versions (the script re-executes itself with PYTHONHASHSEED=0 and one
OpenMP thread).

The data: sklearn.datasets.make_classification, 20,000 rows x 28 numeric
features c00..c27 (the shape of the HIGGS benchmark set, not its data),
seed 12345, rounded to 5 decimals; then NaN put at random (seeded) in three
features, in training and held-out rows alike, so that LightGBM learns a
missing-value direction for each split on them. 200 rows are held out
(stratified); the model is trained on the other 19,800, of which
synth_lgbm.train.jsonl holds the first 2,000 (the split's order, which is
shuffled).

The model: lightgbm.LGBMClassifier(n_estimators=100, num_leaves=31,
deterministic=True, n_jobs=1, random_state=12345), the other parameters
LightGBM's defaults; converted by onnxmltools.convert_lightgbm with zipmap
off: one float32 input `input` [N, 28] (columns c00..c27, null -> NaN),
outputs `label` (int64) and `probabilities` (float32 [N, 2]). onnxmltools
declares `label` with the fixed shape [1]; the script rewrites that
declaration to [N] like the other files (the graph itself is untouched).

expected.jsonl: `label` and `proba` are LightGBM's predict and
predict_proba (float64) on the held-out rows; `onnxruntime_label` and
`onnxruntime_proba` onnxruntime's on the same rows fed as float32, one thread.
The meta file's `conformance` compares the two on the held-out rows and on
the first 10,000 training rows (`batch_10000`).
"""

import argparse
import io
import json
import os
import sys

if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("OMP_NUM_THREADS", "1")

import lightgbm  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

NAME = "synth_lgbm"
SEED = 12345
N_SAMPLES = 20_000
N_FEATURES = 28
N_HELDOUT = 200
N_TRAIN_FILE = 2_000
DECIMALS = 5
# Share of NaN put in these features (training and held-out rows alike).
MISSING = {"c04": 0.03, "c13": 0.05, "c22": 0.02}
# onnxmltools 1.16's highest; the file imports what its graph needs.
TARGET_OPSET = 15
QUANTILES = [1, 5, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 95, 99]
HERE = os.path.dirname(os.path.abspath(__file__))

MAKE_CLASSIFICATION = dict(
    n_samples=N_SAMPLES,
    n_features=N_FEATURES,
    n_informative=16,
    n_redundant=4,
    n_repeated=0,
    n_classes=2,
    flip_y=0.03,
    class_sep=0.8,
    random_state=SEED,
)


def feature_names():
    return [f"c{i:02d}" for i in range(N_FEATURES)]


def dataset():
    """(X_train, y_train, X_heldout, y_heldout) as float64 arrays, NaN for
    missing; X_train in the split's (shuffled) order. Also used by
    scripts/bench_peers.py to refit the model on the full training set."""
    X, y = make_classification(**MAKE_CLASSIFICATION)
    # + 0.0 turns the -0.0 of rounded tiny negatives into 0.0.
    X = X.round(DECIMALS) + 0.0
    rng = np.random.default_rng(SEED)
    names = feature_names()
    for feature, rate in MISSING.items():
        j = names.index(feature)
        X[rng.random(len(X)) < rate, j] = np.nan
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=N_HELDOUT, random_state=SEED, stratify=y)
    return X_tr, y_tr, X_te, y_te


def model():
    return lightgbm.LGBMClassifier(
        n_estimators=100,
        num_leaves=31,
        deterministic=True,
        n_jobs=1,
        random_state=SEED,
        verbose=-1,
    )


def fitted(X_tr, y_tr):
    clf = model()
    clf.fit(pd.DataFrame(X_tr, columns=feature_names()), y_tr)
    return clf


def to_onnx(clf):
    # Imported here: scripts/bench_peers.py imports this file for dataset()
    # in an environment without onnxmltools.
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    onx = onnxmltools.convert_lightgbm(
        clf,
        name=NAME,
        initial_types=[("input", FloatTensorType([None, N_FEATURES]))],
        target_opset=TARGET_OPSET,
        zipmap=False,
    )
    # onnxmltools declares `label` as [1]; onnxruntime returns [N].
    for out in onx.graph.output:
        if out.name == "label":
            dims = out.type.tensor_type.shape.dim
            del dims[:]
            dims.add()
    onnx.checker.check_model(onx)
    return onx


def session(data):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def rows_json(X):
    names = feature_names()
    lines = []
    for x in X:
        row = {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, x)}
        lines.append(json.dumps(row))
    return "".join(line + "\n" for line in lines)


def predict_all(clf, sess, X):
    frame = pd.DataFrame(X, columns=feature_names())
    label = clf.predict(frame)
    proba = clf.predict_proba(frame)
    ort_label, ort_proba = sess.run(None, {"input": X.astype(np.float32)})
    return label, proba, np.ravel(ort_label), ort_proba


def conformance(label, proba, ort_label, ort_proba):
    return {
        "label_mismatches": int(np.sum(label != ort_label)),
        "max_abs_diff_proba": float(np.max(np.abs(proba - ort_proba.astype(np.float64)))),
        "argmax_proba_vs_predict_mismatch_sklearn": int(np.sum(np.argmax(proba, axis=1) != label)),
        "n_rows": int(len(label)),
    }


def numeric_profile(col):
    """The reference data's profile of one numeric column: counts over all
    rows, statistics over the present values (std with ddof=0, quantiles by
    linear interpolation, 10 equal-width histogram bins)."""
    present = col[~np.isnan(col)]
    edges_counts = np.histogram(present, bins=10)
    return {
        "count": int(len(col)),
        "missing": int(len(col) - len(present)),
        "missing_rate": float((len(col) - len(present)) / len(col)),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "min": float(present.min()),
        "max": float(present.max()),
        "n_unique": int(len(np.unique(present))),
        "quantiles": {f"p{q:02d}": float(np.quantile(present, q / 100)) for q in QUANTILES},
        "histogram": {
            "edges": [float(e) for e in edges_counts[1]],
            "counts": [int(c) for c in edges_counts[0]],
        },
    }


def proportions(values):
    s = pd.Series(values).value_counts(normalize=True, sort=True)
    return {str(k): float(v) for k, v in s.items()}


def steps(clf):
    params = ", ".join(f"{k}={v!r}" for k, v in sorted(clf.get_params().items()))
    return [f"clf: LGBMClassifier({params})"]


def meta(clf, onx, size, X_tr, y_tr, X_te, conf):
    import onnxmltools

    names = feature_names()
    graph = onx.graph

    def shape(v):
        return [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]

    def tname(v):
        return f"tensor({onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name.replace('float32', 'float')})"

    ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in graph.node})
    booster = clf.booster_.dump_model()
    leaves = [t["num_leaves"] for t in booster["tree_info"]]
    return {
        "name": NAME,
        "task": "binary_classification",
        "dataset": (
            f"sklearn.datasets.make_classification({N_SAMPLES}x{N_FEATURES}, 16 informative, 4 redundant, "
            f"flip_y=0.03, class_sep=0.8), rounded to {DECIMALS} decimals; NaN put in "
            + ", ".join(f"{k} ({v:.0%})" for k, v in MISSING.items())
            + f" (numpy default_rng({SEED})); {N_HELDOUT} held out (stratified); train.jsonl holds the first "
            f"{N_TRAIN_FILE} of the {len(X_tr)} training rows"
        ),
        "pipeline_steps": steps(clf),
        "trees": {"n_trees": len(leaves), "max_leaves": max(leaves), "total_leaves": int(sum(leaves))},
        "n_train": int(len(X_tr)),
        "n_heldout": int(len(X_te)),
        "features": [
            {"name": n, "type": "float", "role": "numeric", "profile": numeric_profile(X_tr[:, j])}
            for j, n in enumerate(names)
        ],
        "classes": [0, 1],
        "class_names": None,
        "supports_missing": True,
        "supports_unseen_categories": False,
        "heldout_rows_with_missing": int(np.isnan(X_te).any(axis=1).sum()),
        "onnx": {
            "file": f"{NAME}.onnx",
            "converter": f"onnxmltools {onnxmltools.__version__} convert_lightgbm(zipmap=False, target_opset={TARGET_OPSET})",
            "opset_import": {(o.domain or "ai.onnx"): o.version for o in onx.opset_import},
            "inputs": [{"name": v.name, "type": tname(v), "shape": shape(v)} for v in graph.input],
            "outputs": [{"name": v.name, "type": tname(v), "shape": shape(v)} for v in graph.output],
            "input_layout": "single float32 tensor 'input' [N, n_features], columns in features[] order; null -> NaN",
            "ops": ops,
            "size_bytes": size,
        },
        "training_prediction_profile": {
            "predicted_label_proportions": proportions(clf.predict(pd.DataFrame(X_tr, columns=names))),
            "true_label_proportions": proportions(y_tr),
        },
        "conformance": conf,
        "drift": None,
        "versions": {
            "python": ".".join(map(str, sys.version_info[:3])),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "lightgbm": lightgbm.__version__,
            "onnxmltools": onnxmltools.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
        "seed": SEED,
    }


def generate():
    """{file name: bytes} of every file, and a summary line."""
    X_tr, y_tr, X_te, y_te = dataset()
    clf = fitted(X_tr, y_tr)
    onx = to_onnx(clf)
    data = onx.SerializeToString()
    sess = session(data)

    label, proba, ort_label, ort_proba = predict_all(clf, sess, X_te)
    expected = io.StringIO()
    for i in range(len(X_te)):
        expected.write(
            json.dumps(
                {
                    "row": i,
                    "label": int(label[i]),
                    "proba": [float(p) for p in proba[i]],
                    "onnxruntime_proba": [float(p) for p in ort_proba[i]],
                    "onnxruntime_label": int(ort_label[i]),
                }
            )
            + "\n"
        )
    conf = {"heldout_200": conformance(label, proba, ort_label, ort_proba)}
    conf["batch_10000"] = conformance(*predict_all(clf, sess, X_tr[:10_000]))
    m = meta(clf, onx, len(data), X_tr, y_tr, X_te, conf)
    files = {
        f"{NAME}.onnx": data,
        f"{NAME}.train.jsonl": rows_json(X_tr[:N_TRAIN_FILE]).encode(),
        f"{NAME}.inputs.jsonl": rows_json(X_te).encode(),
        f"{NAME}.expected.jsonl": expected.getvalue().encode(),
        f"{NAME}.meta.json": (json.dumps(m, indent=1) + "\n").encode(),
    }
    h, b = conf["heldout_200"], conf["batch_10000"]
    summary = (
        f"{NAME}: {m['trees']['n_trees']} trees, {m['trees']['total_leaves']} leaves "
        f"(max {m['trees']['max_leaves']}), accuracy on held-out {np.mean(label == y_te):.3f}; "
        f"onnxruntime vs LightGBM: held-out labels {h['n_rows'] - h['label_mismatches']}/{h['n_rows']}, "
        f"max |proba diff| {h['max_abs_diff_proba']:.2e}; 10,000 training rows: labels "
        f"{b['n_rows'] - b['label_mismatches']}/{b['n_rows']}, max |proba diff| {b['max_abs_diff_proba']:.2e}"
    )
    return files, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=HERE, help="folder to write to (default: next to this script)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    args = ap.parse_args()
    files, summary = generate()
    changed = []
    for name, data in files.items():
        path = os.path.join(args.out, name)
        old = open(path, "rb").read() if os.path.exists(path) else None
        if old != data:
            changed.append(name)
            if not args.check:
                with open(path, "wb") as f:
                    f.write(data)
    print(summary, file=sys.stderr)
    if args.check:
        print("changed: " + (", ".join(changed) or "nothing"), file=sys.stderr)
        sys.exit(1 if changed else 0)
    print(f"wrote {len(files)} files to {args.out} ({len(changed)} changed)", file=sys.stderr)


if __name__ == "__main__":
    main()

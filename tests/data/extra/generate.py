#!/usr/bin/env python3
"""Generate the extra conformance fixtures in tests/data/extra/.

Run from the repository root with the pinned environment:

    PY="$(scripts/pyenv.sh | tail -n1)"
    "$PY" tests/data/extra/generate.py

Each model NAME gets NAME.onnx, NAME.train.jsonl, NAME.inputs.jsonl and
NAME.expected.jsonl; manifest.json lists every model with its task, classes
and the ONNX operators its graph uses. The output is deterministic for the
pinned versions (seed 12345).
"""

import json
import math
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import BernoulliNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer, Normalizer, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

# scikit-learn 1.9 deprecates SVC(probability=True); the fixtures use it on
# purpose because skl2onnx maps it to SVMClassifier's prob_a/prob_b.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"sklearn\.")

SEED = 12345
N_TRAIN_MAX = 300
N_HELDOUT = 50
MAX_ONNX_BYTES = 300 * 1024
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
OUT_DIR = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------
# data


def split(X, y, seed_offset):
    """Shuffle with a fixed seed; first N_HELDOUT rows held out, then up to
    N_TRAIN_MAX training rows."""
    rng = np.random.RandomState(SEED + seed_offset)
    order = rng.permutation(len(X))
    held = order[:N_HELDOUT]
    train = order[N_HELDOUT : N_HELDOUT + N_TRAIN_MAX]
    return X[train], y[train], X[held], y[held]


def with_missing(X, rate, seed_offset):
    rng = np.random.RandomState(SEED + 1000 + seed_offset)
    X = X.copy()
    X[rng.uniform(size=X.shape) < rate] = np.nan
    return X


def dataset(name, n_features=None):
    if name == "iris":
        X, y = load_iris(return_X_y=True)
    elif name == "wine":
        X, y = load_wine(return_X_y=True)
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "diabetes":
        X, y = load_diabetes(return_X_y=True, scaled=False)
    else:
        raise ValueError(name)
    X = np.asarray(X, dtype=np.float64)
    if n_features is not None:
        X = X[:, :n_features]
    return X, y


# --------------------------------------------------------------------------
# the models


def build_models():
    """Yield (name, task, pipeline, dataset name, n_features, missing rate)."""
    return [
        (
            "svc_rbf_proba",
            "classification",
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("clf", SVC(kernel="rbf", probability=True, random_state=SEED)),
                ]
            ),
            "iris",
            None,
            0.0,
        ),
        (
            "svc_linear_binary",
            "classification",
            # Scaled: on the raw features (areas ~1e3, so kernel values ~1e6)
            # the float32 decision values lose most of their digits and
            # depend on the summation order (errors of ~0.5 seen).
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("clf", SVC(kernel="linear", probability=False)),
                ]
            ),
            "breast_cancer",
            10,
            0.0,
        ),
        (
            "svc_poly",
            "classification",
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    (
                        "clf",
                        SVC(kernel="poly", degree=3, probability=True, random_state=SEED),
                    ),
                ]
            ),
            "wine",
            6,
            0.0,
        ),
        (
            "svr_rbf",
            "regression",
            Pipeline([("scale", StandardScaler()), ("reg", SVR(kernel="rbf", C=100.0))]),
            "diabetes",
            None,
            0.0,
        ),
        (
            "linear_svc",
            "classification",
            Pipeline(
                [("scale", StandardScaler()), ("clf", LinearSVC(random_state=SEED))]
            ),
            "iris",
            None,
            0.0,
        ),
        (
            "pca_logreg",
            "classification",
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("pca", PCA(n_components=5, random_state=SEED)),
                    ("clf", LogisticRegression(max_iter=1000)),
                ]
            ),
            "wine",
            None,
            0.0,
        ),
        (
            "hgb_missing",
            "classification",
            Pipeline(
                [("clf", HistGradientBoostingClassifier(max_iter=30, random_state=SEED))]
            ),
            "breast_cancer",
            None,
            0.10,
        ),
        (
            "hgb_reg",
            "regression",
            Pipeline(
                [("reg", HistGradientBoostingRegressor(max_iter=30, random_state=SEED))]
            ),
            "diabetes",
            None,
            0.05,
        ),
        (
            "binarizer_normalizer",
            "classification",
            Pipeline(
                [
                    ("norm", Normalizer(norm="l2")),
                    ("clf", LogisticRegression(max_iter=1000)),
                ]
            ),
            "iris",
            None,
            0.0,
        ),
        (
            "binarizer_nb",
            "classification",
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("bin", Binarizer(threshold=0.5)),
                    ("clf", BernoulliNB(binarize=None)),
                ]
            ),
            "breast_cancer",
            8,
            0.0,
        ),
        (
            "gbr_lad",
            "regression",
            Pipeline(
                [
                    (
                        "reg",
                        GradientBoostingRegressor(
                            loss="absolute_error",
                            n_estimators=20,
                            max_depth=2,
                            random_state=SEED,
                        ),
                    )
                ]
            ),
            "diabetes",
            None,
            0.0,
        ),
        (
            "et_multiclass",
            "classification",
            Pipeline(
                [
                    (
                        "clf",
                        ExtraTreesClassifier(
                            n_estimators=10, max_depth=5, random_state=SEED
                        ),
                    )
                ]
            ),
            "iris",
            None,
            0.0,
        ),
        (
            "ridge_poly",
            "regression",
            Pipeline([("poly", PolynomialFeatures(degree=2)), ("reg", Ridge(alpha=1.0))]),
            "diabetes",
            4,
            0.0,
        ),
    ]


# --------------------------------------------------------------------------
# output helpers


def num(v):
    """A float/int for JSON: NaN -> None."""
    v = float(v)
    if math.isnan(v):
        return None
    return v


def label_json(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        f = float(v)
        return int(f) if f.is_integer() else f
    if isinstance(v, (np.str_, str, bytes)):
        return v.decode() if isinstance(v, bytes) else str(v)
    return v


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, allow_nan=False))
            f.write("\n")


def rows_json(X, names):
    return [{n: num(x) for n, x in zip(names, row)} for row in X]


def graph_ops(model):
    ops = set()

    def walk(graph):
        for node in graph.node:
            domain = node.domain or "ai.onnx"
            ops.add(f"{domain}:{node.op_type}")
            for attr in node.attribute:
                if attr.g is not None and attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(model.graph)
    return sorted(ops)


def ort_session(model_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------


def export(name, pipe, n_features, task):
    final = pipe.steps[-1][1]

    def convert(options):
        return convert_sklearn(
            pipe,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            target_opset=TARGET_OPSET,
            options=options,
            # A fixed graph name (skl2onnx otherwise uses a random uuid)
            # keeps the .onnx files byte-for-byte reproducible.
            name=name,
        )

    if task != "classification":
        return convert(None)
    try:
        return convert({id(final): {"zipmap": False}})
    except NameError as e:
        # LinearSVC has no probabilities and hence no 'zipmap' option; its
        # converter emits label + scores without a ZipMap anyway. Passing
        # no options does not work inside a Pipeline (skl2onnx 1.20 then adds
        # zipmap=True to the final classifier's options and rejects it), but
        # an empty option dict for the step stops that.
        if "Option 'zipmap' not in" not in str(e):
            raise
        return convert({id(final): {}})


def main():
    manifest = []
    skipped = []
    for offset, (name, task, pipe, ds, nfeat, miss) in enumerate(build_models()):
        X, y = dataset(ds, nfeat)
        X_tr, y_tr, X_te, _ = split(X, y, offset)
        if miss > 0:
            X_tr = with_missing(X_tr, miss, 2 * offset)
            X_te = with_missing(X_te, miss, 2 * offset + 1)
        # Train on exactly the rows written out (JSON keeps float64 exactly).
        names = [f"f{i}" for i in range(X.shape[1])]
        pipe.fit(X_tr, y_tr)

        try:
            onx = export(name, pipe, X.shape[1], task)
        except Exception as e:  # noqa: BLE001 - reported and skipped
            why = f"{type(e).__name__}: {str(e)[:300]}"
            if e.__cause__ is not None:
                why += f" (caused by {type(e.__cause__).__name__}: {str(e.__cause__)[:300]})"
            skipped.append((name, why))
            print(f"SKIP {name}: converter failed: {why}", file=sys.stderr)
            continue
        model_bytes = onx.SerializeToString()
        if len(model_bytes) > MAX_ONNX_BYTES:
            raise SystemExit(f"{name}: ONNX model is {len(model_bytes)} bytes")

        sess = ort_session(model_bytes)
        outs = sess.run(None, {sess.get_inputs()[0].name: X_te.astype(np.float32)})

        expected = []
        if task == "classification":
            labels = pipe.predict(X_te)
            proba = pipe.predict_proba(X_te) if hasattr(pipe, "predict_proba") else None
            ort_label, ort_proba = outs[0], outs[1]
            for i in range(len(X_te)):
                rec = {"row": i, "label": label_json(labels[i])}
                if proba is not None:
                    rec["proba"] = [float(p) for p in proba[i]]
                rec["onnxruntime_label"] = label_json(ort_label[i])
                rec["onnxruntime_proba"] = [float(p) for p in np.ravel(ort_proba[i])]
                expected.append(rec)
            classes = [str(label_json(c)) for c in pipe.classes_]
        else:
            values = pipe.predict(X_te)
            ort_value = outs[0].reshape(len(X_te), -1)
            for i in range(len(X_te)):
                expected.append(
                    {
                        "row": i,
                        "value": float(values[i]),
                        "onnxruntime_value": float(ort_value[i, 0]),
                    }
                )
            classes = None

        with open(os.path.join(OUT_DIR, f"{name}.onnx"), "wb") as f:
            f.write(model_bytes)
        write_jsonl(os.path.join(OUT_DIR, f"{name}.train.jsonl"), rows_json(X_tr, names))
        write_jsonl(os.path.join(OUT_DIR, f"{name}.inputs.jsonl"), rows_json(X_te, names))
        write_jsonl(os.path.join(OUT_DIR, f"{name}.expected.jsonl"), expected)

        manifest.append(
            {"name": name, "task": task, "classes": classes, "ops": graph_ops(onx)}
        )
        print(f"{name}: {len(model_bytes)} bytes, ops {graph_ops(onx)}", file=sys.stderr)

    with open(os.path.join(OUT_DIR, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if skipped:
        for name, why in skipped:
            print(f"skipped {name}: {why}", file=sys.stderr)


if __name__ == "__main__":
    main()

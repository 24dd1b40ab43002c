"""Reference rows and answers (tests/data/sklearn) and the checks every
client test applies to what a server answered.

Nothing here imports a client library: test_kserve.py and
test_triton_grpc.py cannot share a process (see conftest.py), and both use
this module.
"""

import functools
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SKLEARN = REPO / "tests" / "data" / "sklearn"

DIGITS = "digits_logreg"  # 64 numeric features, classes "0".."9"
CHURN = "churn_coltrans_rf"  # 5 numeric + 3 categorical features, nulls in 43 rows
FRIEDMAN = "friedman_dtree_reg"  # 10 numeric features, a regressor
MODELS = (DIGITS, CHURN, FRIEDMAN)
NUMERIC_MODELS = (DIGITS, FRIEDMAN)

PROBA_ATOL = 1e-5  # absolute, on probabilities, against onnxruntime_proba
VALUE_RTOL = 1e-5  # relative, on regression values, against onnxruntime_value


def _jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@functools.lru_cache(maxsize=None)
def meta(model):
    with open(SKLEARN / f"{model}.meta.json", encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def rows(model):
    return _jsonl(SKLEARN / f"{model}.inputs.jsonl")


@functools.lru_cache(maxsize=None)
def expected(model):
    return _jsonl(SKLEARN / f"{model}.expected.jsonl")


def features(model):
    """Feature names in the model's order (the order of the 2-D form)."""
    return [f["name"] for f in meta(model)["features"]]


def categorical(model):
    return {f["name"] for f in meta(model)["features"] if f["role"] == "categorical"}


def is_regressor(model):
    return meta(model)["task"] == "regression"


def classes(model):
    return [str(c) for c in meta(model)["classes"]]


def output_names(model):
    return ["value"] if is_regressor(model) else ["label", "probabilities"]


@functools.lru_cache(maxsize=None)
def complete(model):
    """Indices of the rows without a missing value: the rows any client can
    send in any form (tritonclient cannot send a JSON null, see the report)."""
    return tuple(i for i, r in enumerate(rows(model)) if all(v is not None for v in r.values()))


def all_rows(model):
    return tuple(range(len(rows(model))))


def np_dtype(datatype):
    return {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "BYTES": np.object_}[datatype]


def column(model, name, idx, datatype):
    """One feature's values for rows idx as a 1-D numpy array."""
    values = [rows(model)[i][name] for i in idx]
    if datatype == "BYTES":
        return np.array([as_text(v) for v in values], dtype=np.object_)
    assert all(v is not None for v in values), "numeric numpy columns cannot hold a missing value"
    return np.array(values, dtype=np.float64).astype(np_dtype(datatype))


def matrix(model, idx, datatype):
    """Rows idx as one [N, F] array in feature order (the 2-D form)."""
    names = features(model)
    if datatype == "BYTES":
        return np.array([[as_text(rows(model)[i][n]) for n in names] for i in idx], dtype=np.object_)
    values = [[rows(model)[i][n] for n in names] for i in idx]
    return np.array(values, dtype=np.float64).astype(np_dtype(datatype))


def as_text(v):
    """A value as the string a BYTES element carries: numbers in Python's
    shortest round-tripping form ("682.55"), strings as they are."""
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    raise ValueError(f"no text form for {v!r}")


def json_value(v, datatype):
    """A value for a JSON `data` list: None stays null."""
    if v is None:
        return None
    if datatype == "BYTES":
        return as_text(v)
    if datatype == "FP32":
        return float(np.float32(v))
    if datatype == "INT64":
        return int(v)
    return float(v)


# ---------------------------------------------------------------- answers


def normalize(outputs):
    """{name: array} with labels as str objects and numbers as float64."""
    out = {}
    for name, arr in outputs.items():
        arr = np.asarray(arr)
        if name == "label":
            out[name] = np.array(
                [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr.reshape(-1)],
                dtype=np.object_,
            ).reshape(arr.shape)
        else:
            out[name] = np.asarray(arr, dtype=np.float64)
    return out


def check_reference(model, idx, outputs):
    """The answers for rows idx against scikit-learn/onnxruntime's:
    labels exact, probabilities within 1e-5 absolute, values within 1e-5
    relative (tests/data/sklearn/README.md)."""
    outputs = normalize(outputs)
    exp = [expected(model)[i] for i in idx]
    n = len(idx)
    if is_regressor(model):
        value = outputs["value"]
        assert value.shape == (n,), f"value shape {value.shape}, expected ({n},)"
        want = np.array([e["onnxruntime_value"] for e in exp])
        np.testing.assert_allclose(value, want, rtol=VALUE_RTOL, atol=0)
        return
    if "label" in outputs:
        label = outputs["label"]
        assert label.shape == (n,), f"label shape {label.shape}, expected ({n},)"
        want = [str(e["onnxruntime_label"]) for e in exp]
        bad = [(i, g, w) for i, g, w in zip(idx, label, want) if g != w]
        assert not bad, f"{len(bad)} labels differ (row, got, want): {bad[:5]}"
    if "probabilities" in outputs:
        proba = outputs["probabilities"]
        k = len(classes(model))
        assert proba.shape == (n, k), f"probabilities shape {proba.shape}, expected ({n}, {k})"
        want = np.array([e["onnxruntime_proba"] for e in exp])
        np.testing.assert_allclose(proba, want, atol=PROBA_ATOL, rtol=0)


def assert_identical(got, want, what=""):
    """Bit-identical answers: same outputs, same shapes, same bits."""
    got, want = normalize(got), normalize(want)
    assert sorted(got) == sorted(want), f"{what}: outputs {sorted(got)}, expected {sorted(want)}"
    for name in want:
        g, w = got[name], want[name]
        assert g.shape == w.shape, f"{what}: {name} shape {g.shape}, expected {w.shape}"
        if g.dtype == np.object_:
            assert list(g.reshape(-1)) == list(w.reshape(-1)), f"{what}: {name} differs"
        else:
            same = g.tobytes() == w.tobytes()
            assert same, f"{what}: {name} not bit-identical; largest difference {np.max(np.abs(g - w))}"


# ------------------------------------------------------ plain REST (stdlib)


def http(method, url, body=None, headers=None, timeout=60):
    """(status, headers, body bytes) of one request, errors included."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def rest_json(method, url, payload=None):
    body = None if payload is None else json.dumps(payload, allow_nan=False).encode()
    status, _, data = http(method, url, body, {"Content-Type": "application/json"} if body else None)
    return status, (json.loads(data) if data else None)


def per_feature_request(model, idx, numeric_datatype="FP64"):
    """The existing REST form: one tensor per feature, nulls for missing."""
    cats = categorical(model)
    inputs = []
    for name in features(model):
        dt = "BYTES" if name in cats else numeric_datatype
        data = [json_value(rows(model)[i][name], dt) for i in idx]
        inputs.append({"name": name, "datatype": dt, "shape": [len(idx)], "data": data})
    return {"inputs": inputs}


def rest_outputs(body):
    """{name: array} from a JSON OIP v2 response."""
    out = {}
    for o in body["outputs"]:
        if o["datatype"] == "BYTES":
            out[o["name"]] = np.array(o["data"], dtype=np.object_).reshape(o["shape"])
        else:
            out[o["name"]] = np.array(o["data"], dtype=np.float64).reshape(o["shape"])
    return out


"""The reference pipelines (tests/data/sklearn): compiled from their ONNX
files through glassbox.compile_onnx, scored from pandas, against the answers
onnxruntime gave (labels exact, probabilities within 1e-5, values within
1e-5 relative): what the Rust tests hold the CLI to."""

import json

import numpy as np
import pandas as pd
import pytest

import glassbox
from conftest import DATA, read_jsonl

MODELS = [
    "digits_logreg",
    "digits_mlp",
    "diabetes_linreg",
    "bc_impute_sgd",
    "bc_gbc",
    "friedman_dtree_reg",
    "synth_rf_large",
    "churn_coltrans_rf",
    "synth_lgbm",
]


def table(model, kind):
    meta = json.loads((DATA / f"{model}.meta.json").read_text())
    names = [f["name"] for f in meta["features"]]
    rows = read_jsonl(DATA / f"{model}.{kind}.jsonl")
    df = pd.DataFrame(rows, columns=names)
    for f in meta["features"]:
        if f["role"] == "numeric":
            df[f["name"]] = df[f["name"]].astype("float64")
        else:
            df[f["name"]] = df[f["name"]].astype(object).where(df[f["name"]].notna(), None)
    return df


_compiled = {}


def compiled(model):
    if model not in _compiled:
        onnx = (DATA / f"{model}.onnx").read_bytes()
        component = glassbox.compile_onnx(onnx, table(model, "train"), name=model.replace("_", "-"))
        _compiled[model] = glassbox.load(component)
    return _compiled[model]


@pytest.mark.parametrize("name", MODELS)
def test_reference_answers(name):
    model = compiled(name)
    X = table(name, "inputs")
    expected = read_jsonl(DATA / f"{name}.expected.jsonl")
    if model.info["task"] == "regression":
        got = model.predict(X)
        want = np.array([e["onnxruntime_value"] for e in expected], dtype=np.float64).reshape(-1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        return
    labels = model.predict(X)
    assert [str(x) for x in labels] == [str(e["onnxruntime_label"]) for e in expected]
    proba = model.predict_proba(X)
    want = np.array([e["onnxruntime_proba"] for e in expected])
    np.testing.assert_allclose(proba, want, atol=1e-5)


def test_churn_answers_are_the_same_from_every_kind_of_table():
    import polars as pl
    import pyarrow as pa

    model = compiled("churn_coltrans_rf")
    X = table("churn_coltrans_rf", "inputs")
    want = model.predict_proba(X)
    as_category = X.astype({c: "category" for c in ("plan", "region", "device")})
    for other in (
        pl.from_pandas(X),
        pa.Table.from_pandas(X),
        pa.Table.from_pandas(X).combine_chunks(),
        as_category,
        X.to_dict("records"),
        X.to_numpy(dtype=object),
    ):
        np.testing.assert_array_equal(model.predict_proba(other), want, err_msg=type(other).__name__)
    out = model.score(pl.from_pandas(X))
    assert type(out).__module__.startswith("polars")
    assert out.columns == ["label", "proba_no", "proba_yes"] or out.columns[0] == "label"
    out = model.score(pa.Table.from_pandas(X))
    assert type(out).__module__.startswith("pyarrow")


def test_monitor_finds_the_drifted_features():
    model = compiled("bc_gbc")
    report = model.monitor(table("bc_gbc", "drifted"))
    frame = report.frame
    flagged = set(frame.index[frame["level"] != "ok"]) - {"(prediction)"}
    assert flagged == {"mean texture", "worst concave points"}, frame
    assert report.health in ("warn", "alert")
    assert "<iframe" in report._repr_html_()
    clean = model.monitor(table("bc_gbc", "inputs"))
    assert clean.health == "ok", clean.frame


def test_report_over_prediction_logs(tmp_path):
    # Lines as `glassbox serve --log-predictions` writes them (the format
    # documented in docs/MONITOR.md): the drifted rows, answered.
    model = compiled("bc_gbc")
    X = table("bc_gbc", "drifted")
    proba = model.predict_proba(X)
    labels = model.predict(X)
    path = tmp_path / "predictions-0001.jsonl"
    with open(path, "w") as f:
        for i, row in enumerate(X.to_dict("records")):
            f.write(
                json.dumps(
                    {
                        "time": "2026-12-06T10:00:00Z",
                        "model": model.name,
                        "version": model.version,
                        "trace_id": None,
                        "inputs": row,
                        "label": str(labels[i]),
                        "probabilities": proba[i].tolist(),
                    }
                )
                + "\n"
            )
        f.write(json.dumps({"time": "2026-12-06T10:00:00Z", "model": "other", "version": "1", "inputs": {}}) + "\n")
    report = glassbox.report(tmp_path, model)
    assert report.rows == len(X)
    frame = report.frame
    assert set(frame.index[frame["level"] != "ok"]) - {"(prediction)"} == {"mean texture", "worst concave points"}
    page = tmp_path / "report.html"
    report.save_html(page)
    assert "mean texture" in page.read_text()
    with pytest.raises(ValueError, match="no logged rows"):
        glassbox.report(tmp_path / "predictions-0001.jsonl", compiled("friedman_dtree_reg"))

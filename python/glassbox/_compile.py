"""``glassbox.compile``: a fitted estimator and its training table become a
component, checked against the estimator itself before it is returned."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import numpy as np

from . import Component, Model, _frame, load
from ._convert import to_onnx
from ._glassbox import compile as _native_compile
from .errors import CompileError, ConversionMismatch

# How closely the component must agree with the estimator on the training
# rows (float32 graphs against float64 scikit-learn; see docs/PYTHON.md):
# - probabilities and decision scores: every value within PROBA_ATOL and
#   their mean difference within PROBA_MEAN_ATOL;
# - labels: equal, except where the estimator's own top two classes are
#   within LABEL_MARGIN of each other (a near tie that float32 may break
#   the other way);
# - regression values: within VALUE_RTOL × (|value| + spread), where spread
#   is the standard deviation of the estimator's predictions, on all but
#   VALUE_OUTLIERS of the rows (a float32 value on a tree threshold takes
#   the other branch); those still within one spread.
PROBA_ATOL = 0.05
PROBA_MEAN_ATOL = 0.005
LABEL_MARGIN = 0.04
VALUE_RTOL = 1e-4
VALUE_OUTLIERS = 0.01
# Rows compared (the first ones of X_train).
CHECK_ROWS = 100_000


def _schema(X: Any) -> tuple[list[str], set[str], Any]:
    """Column names, the categorical ones, and X as a table with names."""
    mod = type(X).__module__.split(".")[0]
    if mod == "polars":
        X = X.to_pandas()
        mod = "pandas"
    elif mod == "pyarrow":
        X = X.to_pandas()
        mod = "pandas"
    if mod == "pandas" and hasattr(X, "columns"):
        import pandas as pd

        names = [str(c) for c in X.columns]
        if names != list(X.columns):
            X = X.set_axis(names, axis=1)
        categorical = {
            n
            for n in names
            if not (pd.api.types.is_numeric_dtype(X[n].dtype) or pd.api.types.is_bool_dtype(X[n].dtype))
        }
        return names, categorical, X
    X = np.asarray(X)
    if X.ndim != 2:
        raise CompileError(f"X_train must be a table of rows × columns, got {X.ndim} dimensions")
    names = [f"x{i}" for i in range(X.shape[1])]
    if X.dtype.kind in "fiub":
        return names, set(), X
    import pandas as pd

    df = pd.DataFrame(X, columns=names)
    categorical = set()
    for n in names:
        try:
            df[n] = pd.to_numeric(df[n])
        except (TypeError, ValueError):
            categorical.add(n)
    return names, categorical, df


def _training_columns(names, categorical, X):
    """The training table in the native compile's layout."""
    fields = [{"name": n, "kind": "categorical" if n in categorical else "numeric"} for n in names]
    cols = _frame.columns({"inputs": fields}, X)
    if cols.refused:
        raise CompileError("X_train: " + "; ".join(_frame.describe_refused(cols.refused[:5])))
    return cols


def compile(
    estimator: Any,
    X_train: Any,
    *,
    name: str,
    version: str = "1.0.0",
    expect: str | os.PathLike | None = None,
    trees: str = "auto",
    check: bool = True,
    nullable: list[str] | None = None,
    progress: Callable[[str], None] | bool | None = None,
) -> Component:
    """Compiles a fitted estimator into a component.

    - ``estimator``: a fitted scikit-learn estimator or pipeline, or an
      XGBoost, LightGBM or CatBoost model.
    - ``X_train``: the table it was fit on (pandas, polars, pyarrow or
      numpy). Each column becomes an input field: numeric for numbers and
      booleans, categorical for strings and categories; a field is nullable
      when the column has missing values (or is named in ``nullable``).
      The rows become the training profile that drift is measured against.
    - ``expect``: the owner's expectations (TOML text or a path to a
      ``.toml`` file, as for ``glassbox compile --expect``).
    - ``trees``: ``"auto"``, ``"code"`` or ``"walk"`` (``--trees``).

    Before returning, the component scores ``X_train`` (up to 100,000 rows)
    and its answers are compared with the estimator's own ``predict``,
    ``predict_proba`` or ``decision_function``. A converter that changed
    what the model computes raises :class:`ConversionMismatch` with the
    evidence, instead of giving a component that would serve wrong answers.
    ``check=False`` skips this (not recommended).
    """
    names, categorical, X = _schema(X_train)
    step = progress if callable(progress) else (lambda _s: None)
    if progress is True:
        step = lambda s: print(f"glassbox.compile: {s}", file=sys.stderr)  # noqa: E731
    step("converting to ONNX")
    onnx, converter = to_onnx(estimator, names, categorical, name)
    component, step = _compile_bytes(onnx, names, categorical, X, name, version, expect, trees, nullable, step)
    component.summary["converter"] = converter
    if check:
        step("checking the component against the estimator")
        component.check = _check(estimator, X, load(bytes(component)), converter)
    return component


def compile_onnx(
    onnx: bytes | str | os.PathLike,
    X_train: Any,
    *,
    name: str,
    version: str = "1.0.0",
    expect: str | os.PathLike | None = None,
    trees: str = "auto",
    nullable: list[str] | None = None,
    progress: Callable[[str], None] | bool | None = None,
) -> Component:
    """Compiles an ONNX pipeline you exported yourself (bytes or a path),
    with the table it was trained on, exactly as ``glassbox compile``
    does. There is no estimator to check against here: the compile checks
    the component against its own native run of the graph only."""
    if not isinstance(onnx, (bytes, bytearray)):
        with open(onnx, "rb") as f:
            onnx = f.read()
    names, categorical, X = _schema(X_train)
    return _compile_bytes(bytes(onnx), names, categorical, X, name, version, expect, trees, nullable, progress)[0]


def _compile_bytes(onnx, names, categorical, X, name, version, expect, trees, nullable, progress):
    import json

    if progress is True:
        progress = lambda step: print(f"glassbox.compile: {step}", file=sys.stderr)  # noqa: E731
    step = progress or (lambda _s: None)
    cols = _training_columns(names, categorical, X)
    null = set(nullable or [])
    unknown = null - set(names)
    if unknown:
        raise CompileError(f"nullable names no column of X_train: {', '.join(sorted(unknown))}")
    expectations = None
    if expect is not None:
        text = str(expect)
        if "\n" not in text and os.path.exists(text):
            with open(text) as f:
                text = f.read()
        expectations = text
    data, summary = _native_compile(
        onnx,
        names,
        sorted(categorical),
        [n in null for n in names],
        cols.numeric,
        cols.categorical,
        name,
        version,
        expectations=expectations,
        trees=trees,
        progress=step,
    )
    summary = json.loads(summary)
    summary.update(name=name, version=version)
    return Component(bytes(data), summary), step


def _rows(X, n):
    return X.iloc[:n] if hasattr(X, "iloc") else X[:n]


def _check(estimator: Any, X: Any, model: Model, converter: str) -> dict[str, Any]:
    n = min(len(X), CHECK_ROWS)
    X = _rows(X, n)
    fail = lambda what, bad, examples: ConversionMismatch(  # noqa: E731
        f"the compiled component disagrees with the fitted {type(estimator).__name__} on "
        f"{bad} of {n} training rows ({what}); the ONNX converter ({converter}) changed what the "
        f"model computes, so it is not served. First rows: "
        + "; ".join(f"row {e['row']}: estimator {e['estimator']}, component {e['component']}" for e in examples[:5]),
        bad,
        n,
        examples,
    )
    if model.info["task"] == "regression":
        want = np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1)
        got = model.predict(X)
        spread = float(np.std(want)) or 1.0
        diff = np.abs(got - want)
        tol = VALUE_RTOL * (np.abs(want) + spread)
        over = np.flatnonzero(~(diff <= tol))
        far = np.flatnonzero(~(diff <= spread))
        if len(over) > VALUE_OUTLIERS * n or len(far):
            rows = far if len(far) else over
            ex = [{"row": int(r), "estimator": float(want[r]), "component": float(got[r])} for r in rows[:10]]
            raise fail(f"values differ by more than {VALUE_RTOL:g} × (|value| + spread)", len(over), ex)
        return {"rows": n, "max_abs_diff": float(diff.max(initial=0.0)), "outside_tolerance": int(len(over))}

    answers, _ = model._call(X, False)
    classes = [str(c) for c in model.info["outputs"]["classes"]]
    est_classes = [str(c) for c in estimator.classes_]
    if sorted(est_classes) != sorted(classes):
        raise ConversionMismatch(
            f"the component's classes {classes} are not the estimator's {est_classes}", n, n, []
        )
    order = [classes.index(c) for c in est_classes]
    if "proba" in answers:
        want = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        got = answers["proba"][:, order]
    else:
        want = np.asarray(estimator.decision_function(X), dtype=np.float64)
        got = answers["decision"]
        if want.ndim == 2:
            got = got[:, order]
        else:
            got = got[:, 0]
    diff = np.abs(got - want)
    want_labels = np.array([str(c) for c in estimator.predict(X)], dtype=object)
    got_labels = np.array(classes, dtype=object)[answers["labels"]]
    differ = np.flatnonzero(want_labels != got_labels)
    # A flip is allowed only at a near tie: where the estimator's score for
    # the class the component chose is within LABEL_MARGIN of its best (for
    # a two-class decision function, where its one score is that near 0).
    if not len(differ):
        flips = differ
    elif want.ndim == 2:
        chosen = np.array([est_classes.index(c) for c in got_labels[differ]])
        margin = want[differ].max(axis=1) - want[differ, chosen]
        flips = differ[margin > LABEL_MARGIN]
    else:
        flips = differ[np.abs(want[differ]) > LABEL_MARGIN]
    if len(flips):
        ex = [{"row": int(r), "estimator": want_labels[r], "component": got_labels[r]} for r in flips[:10]]
        raise fail("labels differ where the estimator is not near a tie", len(flips), ex)
    rows_over = np.flatnonzero((diff > PROBA_ATOL).any(axis=1) if diff.ndim == 2 else diff > PROBA_ATOL)
    if "proba" in answers and (len(rows_over) or diff.mean() > PROBA_MEAN_ATOL):
        ex = [
            {"row": int(r), "estimator": np.round(want[r], 4).tolist(), "component": np.round(got[r], 4).tolist()}
            for r in rows_over[:10]
        ]
        raise fail(
            f"probabilities differ by more than {PROBA_ATOL} (mean difference {diff.mean():.2g})",
            max(len(rows_over), 1),
            ex,
        )
    return {
        "rows": n,
        "labels_differing": int(len(differ)),
        "max_abs_diff": float(diff.max(initial=0.0)),
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
    }

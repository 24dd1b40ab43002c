"""Glassbox from Python: compile a fitted estimator into a sandboxed
WebAssembly component, load it, score DataFrames, and read its drift report.

Scoring runs the ``glassbox`` Rust library itself (the same sandbox, limits,
contract checks and monitor as ``glassbox serve``), in this process, with
the GIL released.

>>> import glassbox
>>> component = glassbox.compile(pipeline, X_train, name="churn")   # doctest: +SKIP
>>> component.save("churn.wasm")                                     # doctest: +SKIP
>>> model = glassbox.load("churn.wasm")                              # doctest: +SKIP
>>> model.predict(X_test)                                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import _frame
from ._glassbox import CONTRACT, NativeModel, __version__
from ._glassbox import compile as _native_compile
from ._glassbox import load as _native_load
from .errors import (
    CompileError,
    ContractError,
    ConversionMismatch,
    GlassboxError,
    LimitError,
    LoadError,
    ModelError,
    SignatureError,
)

__all__ = [
    "CONTRACT",
    "Component",
    "CompileError",
    "ContractError",
    "ConversionMismatch",
    "GlassboxError",
    "LimitError",
    "LoadError",
    "Model",
    "ModelError",
    "Report",
    "SignatureError",
    "compile",
    "compile_onnx",
    "load",
    "report",
    "__version__",
]


class Component(bytes):
    """A compiled model: the component's bytes, as ``glassbox serve`` and
    ``glassbox.load`` take them. ``summary`` holds the compile's figures
    (graph nodes, trees, bytes, seconds), ``check`` what the comparison with
    the fitted estimator found."""

    summary: dict[str, Any]
    check: dict[str, Any]

    def __new__(cls, data: bytes, summary: dict[str, Any] | None = None, check: dict[str, Any] | None = None):
        obj = super().__new__(cls, data)
        obj.summary = dict(summary or {})
        obj.check = dict(check or {})
        return obj

    def __repr__(self) -> str:
        name = self.summary.get("name", "?")
        return f"<glassbox.Component {name} {self.summary.get('version', '')}: {len(self):,} bytes>"

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the component to ``path`` (conventionally ``NAME.wasm``)."""
        path = Path(path)
        path.write_bytes(bytes(self))
        return path


def _read_keys(keys: Iterable[str | os.PathLike] | None) -> list[str]:
    """Trusted keys from PEM text or files; ``GLASSBOX_TRUSTED_KEYS`` (paths
    separated by ``:``) adds to them, as for the ``glassbox`` commands."""
    out = []
    env = os.environ.get("GLASSBOX_TRUSTED_KEYS", "")
    items = list(keys or []) + [p for p in env.split(os.pathsep) if p]
    for k in items:
        if isinstance(k, str) and "-----BEGIN" in k:
            out.append(k)
        else:
            out.append(Path(k).read_text())
    return out


def load(
    model: str | os.PathLike | bytes,
    *,
    deadline_ms: int | None = None,
    memory_mib: int | None = None,
    trusted_keys: Sequence[str | os.PathLike] | None = None,
    reuse_instances: bool = False,
) -> "Model":
    """Loads a component from a path or from bytes.

    ``deadline_ms`` (default 1000) and ``memory_mib`` (default 256) bound
    every call; a model past them fails that call with :class:`LimitError`.
    With ``trusted_keys`` (public keys: PEM text or files) the component
    must be signed by one of them (:class:`SignatureError` otherwise).
    ``reuse_instances=True`` saves a few microseconds per call by reusing
    sandbox instances, at the price of letting a model carry data from one
    call to the next: only for models you trust.
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        data, label = bytes(model), "(bytes)"
    else:
        path = Path(model)
        data, label = path.read_bytes(), str(path)
    native = _native_load(
        data,
        label,
        deadline_ms=deadline_ms,
        memory_mib=memory_mib,
        trusted_keys=_read_keys(trusted_keys),
        reuse_instances=reuse_instances,
    )
    return Model(native)


def _class_labels(classes: list[str]) -> np.ndarray:
    """Class labels as numpy: integers when every label is one written
    plainly (scikit-learn's own classes were integers), else strings."""
    try:
        ints = [int(c) for c in classes]
        if [str(i) for i in ints] == classes:
            return np.array(ints, dtype=np.int64)
    except ValueError:
        pass
    return np.array(classes, dtype=object)


class Model:
    """A loaded model. Usable from many threads at once; every call runs in
    a sandbox instance of its own.

    ``info`` is the model's description (``glassbox inspect --json``):
    ``name``, ``version``, ``task``, ``inputs`` (each ``name``, ``kind``,
    ``nullable``, ``categories``), ``outputs``, ``profile``,
    ``expectations``, ``digest``. ``classes_`` holds the class labels in
    the order of ``predict_proba``'s columns, as in scikit-learn.
    """

    def __init__(self, native: NativeModel):
        self._native = native
        self.info: dict[str, Any] = json.loads(native.describe())
        outputs = self.info["outputs"]
        self.classes_: np.ndarray | None = _class_labels(outputs["classes"]) if "classes" in outputs else None
        self.feature_names_in_ = np.array([f["name"] for f in self.info["inputs"]], dtype=object)
        self.n_features_in_ = len(self.info["inputs"])
        self._schema = _frame.Schema(self.info)

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def version(self) -> str:
        return self.info["version"]

    def __repr__(self) -> str:
        return (
            f"<glassbox.Model {self.name} {self.version}: {self.info['task']}, "
            f"{self.n_features_in_} inputs, {self.info['digest'][:19]}…>"
        )

    # -- scoring -----------------------------------------------------------

    def _call(self, X: Any, per_row: bool) -> tuple[dict[str, Any], _frame.Columns]:
        cols = _frame.columns(self._schema, X)
        if cols.kind == "rows":
            return self._rows(cols.index, per_row), cols
        if cols.rows <= self._chunk_rows:
            answers = self._native.score(
                cols.rows, cols.numeric, cols.categorical, per_row=per_row, refused=cols.refused
            )
            return answers, cols
        return self._chunked(cols, per_row), cols

    @property
    def _chunk_rows(self) -> int:
        # Calls stay within the engine's limits on rows (100,000) and input
        # bytes (64 MiB): at most 65,536 rows and about 16 MiB each.
        return max(1, min(65_536, (16 << 20) // (8 * max(1, self.n_features_in_))))

    def _rows(self, rows: list[dict], per_row: bool) -> dict[str, Any]:
        """Dicts, as the server takes them, in calls within the limits."""
        step = self._chunk_rows
        if len(rows) <= step:
            return self._native.score_json(_frame.json_rows(rows), per_row=per_row)
        parts = []
        for start in range(0, len(rows), step):
            try:
                part = self._native.score_json(_frame.json_rows(rows[start : start + step]), per_row=per_row)
            except ContractError as e:
                raise self._shifted(e, start) from None
            part["errors"] = [(r + start, m) for r, m in part["errors"]]
            parts.append(part)
        return self._joined(parts)

    def _shifted(self, e: ContractError, start: int) -> ContractError:
        """``e`` from a chunk starting at row ``start``, in the whole
        table's row numbers."""
        for v in e.violations:
            if v.get("row") is not None:
                v["row"] += start
        return ContractError(
            f"input does not match the contract of model `{self.name}`:"
            + "".join(
                f"\n  row {v['row']}, field `{v['field']}`: expected {v['expected']}, got {v['got']}"
                for v in e.violations
            ),
            e.violations,
            e.total,
        )

    @staticmethod
    def _joined(parts: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"errors": [e for p in parts for e in p["errors"]]}
        for key in ("labels", "proba", "decision", "values"):
            if key in parts[0]:
                out[key] = np.concatenate([p[key] for p in parts])
        return out

    def _chunked(self, cols: _frame.Columns, per_row: bool) -> dict[str, Any]:
        parts = []
        step = self._chunk_rows
        for start in range(0, cols.rows, step):
            stop = min(cols.rows, start + step)
            numeric = cols.numeric[start:stop] if cols.numeric is not None else None
            categorical = [(codes[start:stop], cats) for codes, cats in cols.categorical]
            refused = [(r - start, *rest) for r, *rest in cols.refused if start <= r < stop]
            try:
                part = self._native.score(stop - start, numeric, categorical, per_row=per_row, refused=refused)
            except ContractError as e:
                raise self._shifted(e, start) from None
            part["errors"] = [(r + start, m) for r, m in part["errors"]]
            parts.append(part)
        return self._joined(parts)

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classifiers, as ``classes_`` holds them) or values
        (regressors), one per row of ``X``.

        ``X`` is a pandas or polars DataFrame, a pyarrow Table (columns
        matched by name; extra columns are ignored), a numpy array (columns
        in schema order) or a list of dicts. A row that breaks the contract
        raises :class:`ContractError` naming its row and field.
        """
        answers, _ = self._call(X, False)
        if "values" in answers:
            return answers["values"]
        return self.classes_[answers["labels"]]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``rows × classes`` in ``classes_`` order."""
        answers, _ = self._call(X, False)
        if "proba" not in answers:
            raise AttributeError(
                f"model `{self.name}` does not answer probabilities"
                + (" (it answers decision scores: use decision_function)" if "decision" in answers else "")
            )
        return answers["proba"]

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision scores of a classifier that answers them (a linear SVM,
        a ridge classifier): one column per class, or for two classes one
        value per row, the second class's, as in scikit-learn."""
        answers, _ = self._call(X, False)
        if "decision" not in answers:
            raise AttributeError(f"model `{self.name}` does not answer decision scores")
        d = answers["decision"]
        return d[:, 0] if d.shape[1] == 1 else d

    def score(self, X: Any, *, errors: str = "raise"):
        """The answers as a table of the same kind as ``X`` (pandas for
        numpy and lists): ``label`` and one ``proba_<class>`` column per
        class for classifiers, ``value`` for regressors.

        With ``errors="row"`` a row the contract refuses (or whose answer
        breaks the model's declaration) does not fail the call: its answer
        columns are null and an ``error`` column says why; other rows are
        scored as usual.
        """
        if errors not in ("raise", "row"):
            raise ValueError(f'errors must be "raise" or "row", got {errors!r}')
        answers, cols = self._call(X, errors == "row")
        data = self._table(answers)
        if errors == "row":
            err = [None] * cols.rows
            for r, m in answers["errors"]:
                err[r] = m
            data["error"] = err
        return _frame.frame(cols.kind, data, cols.index if cols.kind == "pandas" else None)

    def _table(self, answers: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        outputs = self.info["outputs"]
        if "values" in answers:
            data["value"] = answers["values"]
            return data
        labels = answers["labels"]
        classes = np.array(outputs["classes"], dtype=object)
        lab = np.empty(len(labels), dtype=object)
        ok = labels >= 0
        lab[ok] = classes[labels[ok]]
        lab[~ok] = None
        data["label"] = lab
        if "proba" in answers:
            for j, c in enumerate(outputs["classes"]):
                data[f"proba_{c}"] = answers["proba"][:, j]
        else:
            d = answers["decision"]
            if d.shape[1] == 1:
                data["decision"] = d[:, 0]
            else:
                for j, c in enumerate(outputs["classes"]):
                    data[f"decision_{c}"] = d[:, j]
        return data

    # -- monitoring --------------------------------------------------------

    def monitor(self, X: Any, *, min_rows: int = 100) -> "Report":
        """Scores ``X`` and compares its features and predictions with the
        training profile: the drift report the server's dashboard shows.
        Columns are judged only from ``min_rows`` rows on."""
        cols = _frame.columns(self._schema, X)
        if cols.kind == "rows":
            import pandas as pd

            cols = _frame.columns(self._schema, pd.DataFrame(cols.index))
        if cols.refused:
            raise ContractError(
                f"input does not match the contract of model `{self.name}`:"
                + "".join(f"\n  {m}" for m in _frame.describe_refused(cols.refused[:100])),
                [dict(zip(("row", "field", "expected", "got"), r)) for r in cols.refused[:100]],
                len(cols.refused),
            )
        text, html = self._native.monitor(
            cols.rows, cols.numeric, cols.categorical, min_rows, f"{cols.rows} rows scored in Python"
        )
        return Report(json.loads(text), html, self)


class Report:
    """A drift report: live rows against the training profile.

    ``health`` is ``"ok"``, ``"warn"`` or ``"alert"``; ``reasons`` says why;
    ``frame`` is one row per column (the features, then ``(prediction)``)
    with its level, PSI, adjusted p-value and missing, out-of-range and
    unseen rates; ``data`` is the full report as ``glassbox report --json``
    gives it. In Jupyter it shows as the dashboard's page.
    """

    def __init__(self, data: dict[str, Any], html: str, model: Model):
        self.data = data
        self._html = html
        self.model = model

    @property
    def health(self) -> str:
        return str(self.data["health"]).lower()

    @property
    def rows(self) -> int:
        return int(self.data["rows"])

    @property
    def reasons(self) -> list[str]:
        return list(self.data["reasons"])

    @property
    def frame(self):
        """The per-column table as a pandas DataFrame."""
        import pandas as pd

        rows = []
        for c in self.data["columns"]:
            d = c["drift"]
            rows.append(
                {
                    "column": c["name"],
                    "level": str(d["level"]).lower(),
                    "psi": d["psi"],
                    "p_adjusted": d["p_adjusted"],
                    "missing_rate": c["missing_rate"],
                    "out_of_range_rate": c["out_of_range_rate"],
                    "unseen_rate": c["unseen_rate"],
                }
            )
        return pd.DataFrame(rows).set_index("column")

    def to_pandas(self):
        return self.frame

    def __repr__(self) -> str:
        return f"<glassbox.Report {self.model.name}: {self.health} over {self.rows} rows>"

    def _repr_html_(self) -> str:
        # The page is a whole document with its own styles and script: an
        # iframe keeps them from reaching the notebook's.
        import html

        return (
            f'<iframe srcdoc="{html.escape(self._html, quote=True)}" '
            'style="width:100%;height:640px;border:1px solid #ddd" sandbox="allow-scripts"></iframe>'
        )

    def save_html(self, path: str | os.PathLike) -> Path:
        """Writes the page, as ``glassbox report --html`` does."""
        path = Path(path)
        path.write_text(self._html)
        return path


def report(log_paths: str | os.PathLike | Sequence[str | os.PathLike], model: Model, *, min_rows: int = 100) -> Report:
    """The drift report over prediction logs that ``glassbox serve
    --log-predictions`` wrote (files, or directories of ``.jsonl`` files),
    as ``glassbox report`` gives it, for ``model``'s name and version."""
    if isinstance(log_paths, (str, os.PathLike)):
        log_paths = [log_paths]
    text, html, _other = model._native.report([str(p) for p in log_paths], min_rows)
    return Report(json.loads(text), html, model)


from ._compile import compile, compile_onnx  # noqa: E402  (uses Component and Model)

"""Batch scoring on Spark: a pandas UDF that scores a Spark DataFrame's
columns by name with a glassbox component.

>>> import glassbox.spark
>>> predict = glassbox.spark.udf(spark, "churn.wasm", result="struct")   # doctest: +SKIP
>>> scored = df.withColumn("prediction", predict())                       # doctest: +SKIP

The component's bytes are broadcast once; each Python worker loads the
model once and keeps it for every batch it is given (Spark reuses its
Python workers). Batches arrive as Arrow record batches.

A row the contract refuses does not fail the job: with ``result="struct"``
its ``error`` field says why and its answer fields are null; with the
other results its value is null. Any other failure of a batch (a trap, a
deadline) is the error of each of that batch's rows.
"""

import os
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from . import Model, _read_keys
from ._glassbox import load as _native_load

__all__ = ["udf"]

# Models loaded in this (worker) process, by digest and limits.
_MODELS: dict = {}


def _worker_model(key, data, options) -> Model:
    model = _MODELS.get(key)
    if model is None:
        model = Model(_native_load(data, options["label"], **{k: v for k, v in options.items() if k != "label"}))
        _MODELS[key] = model
    return model


class GlassboxUDF:
    """What :func:`udf` returns: call it with the columns to score (names or
    Spark columns, in the model's schema order by name) or with none to
    score the columns named like the model's inputs."""

    def __init__(self, pandas_udf, names: list[str], result: str, model: Model):
        self._udf = pandas_udf
        self.input_names = names
        self.result = result
        self.model = model

    def __call__(self, *cols):
        from pyspark.sql import functions as F

        if not cols:
            cols = self.input_names
        if len(cols) != len(self.input_names):
            raise ValueError(
                f"model `{self.model.name}` takes {len(self.input_names)} columns "
                f"({', '.join(self.input_names)}), got {len(cols)}"
            )
        # Each column takes the name of the field it feeds, in schema order:
        # the struct the UDF receives is the model's row.
        columns = [
            (F.col(f"`{c}`") if isinstance(c, str) else c).alias(name) for c, name in zip(cols, self.input_names)
        ]
        return self._udf(F.struct(*columns))


def udf(
    spark,
    model: "str | os.PathLike | bytes",
    *,
    result: str = "label",
    deadline_ms: "int | None" = None,
    memory_mib: "int | None" = None,
    trusted_keys: "Sequence[str | os.PathLike] | None" = None,
) -> GlassboxUDF:
    """A pandas UDF scoring with ``model`` (a path the driver can read, or
    the component's bytes).

    ``result`` picks the column it makes:

    - ``"label"``: the predicted class, a string (classifiers);
    - ``"value"``: the predicted value, a double (regressors);
    - ``"proba"``: the class probabilities, an array of doubles in the
      model's class order (classifiers with probabilities);
    - ``"struct"``: everything, plus ``error``: a struct of ``label``,
      ``proba`` (or ``decision``) and ``error`` for classifiers, ``value``
      and ``error`` for regressors.

    Refused rows get nulls (and, in ``"struct"``, their reason in
    ``error``) instead of failing the job.
    """
    from pyspark.sql import types as T
    from pyspark.sql.functions import pandas_udf

    if isinstance(model, (bytes, bytearray, memoryview)):
        data, label = bytes(model), "(bytes)"
    else:
        with open(model, "rb") as f:
            data, label = f.read(), str(model)
    options = {
        "label": label,
        "deadline_ms": deadline_ms,
        "memory_mib": memory_mib,
        "trusted_keys": _read_keys(trusted_keys),
    }
    # Loading on the driver checks the component (and its signature) before
    # any executor sees it, and gives the schema.
    local = Model(_native_load(data, **options))
    info = local.info
    regression = info["task"] == "regression"
    outputs = info["outputs"]
    decision = outputs.get("answers") == "decision scores"
    allowed = {"value", "struct"} if regression else {"label", "struct"} | (set() if decision else {"proba"})
    if result not in allowed:
        raise ValueError(
            f"result={result!r} does not fit model `{info['name']}` ({info['task']}): "
            f"use one of {', '.join(sorted(allowed))}"
        )
    if result == "label":
        rtype = T.StringType()
    elif result == "value":
        rtype = T.DoubleType()
    elif result == "proba":
        rtype = T.ArrayType(T.DoubleType())
    elif regression:
        rtype = T.StructType([T.StructField("value", T.DoubleType()), T.StructField("error", T.StringType())])
    else:
        rtype = T.StructType(
            [
                T.StructField("label", T.StringType()),
                T.StructField("decision" if decision else "proba", T.ArrayType(T.DoubleType())),
                T.StructField("error", T.StringType()),
            ]
        )
    key = (info["digest"], deadline_ms, memory_mib, tuple(options["trusted_keys"]))
    shared = spark.sparkContext.broadcast(data)
    names = [f["name"] for f in info["inputs"]]
    classes = np.array(outputs.get("classes", []), dtype=object)

    def rows_of(matrix, ok):
        out = np.empty(len(matrix), dtype=object)
        for i in range(len(matrix)):
            out[i] = matrix[i] if ok[i] else None
        return out

    def answer(m: Model, batch: pd.DataFrame):
        answers, cols = m._call(batch, True)
        n = cols.rows
        error = np.full(n, None, dtype=object)
        for r, message in answers["errors"]:
            error[r] = message
        ok = np.equal(error, None)
        if regression:
            values = pd.Series(answers["values"]).where(ok, None)
            if result == "value":
                return values
            return pd.DataFrame({"value": values, "error": error})
        labels = answers["labels"]
        lab = np.full(n, None, dtype=object)
        good = labels >= 0
        lab[good] = classes[labels[good]]
        if result == "label":
            return pd.Series(lab)
        matrix = answers["decision" if decision else "proba"]
        arrays = rows_of(matrix, ok)
        if result == "proba":
            return pd.Series(arrays)
        return pd.DataFrame({"label": lab, "decision" if decision else "proba": arrays, "error": error})

    def score_struct(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = _worker_model(key, shared.value, options)
        for batch in batches:
            yield answer(m, batch)

    def score_column(batches: Iterator[pd.DataFrame]) -> Iterator[pd.Series]:
        m = _worker_model(key, shared.value, options)
        for batch in batches:
            yield answer(m, batch)

    fn = score_struct if result == "struct" else score_column
    return GlassboxUDF(pandas_udf(fn, rtype), names, result, local)


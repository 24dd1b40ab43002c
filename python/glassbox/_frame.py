"""Tables in, tables out: DataFrames (pandas, polars), Arrow tables, numpy
arrays and lists of dicts turned into the contract's column-major batch,
and answers turned back into a table of the caller's kind.

The batch wants, for the numeric fields, one float64 matrix (NaN is a
missing value) and, for each categorical field, dictionary codes (-1 for
missing) with their categories: what ``pandas.factorize``, a pandas
``Categorical`` and an Arrow dictionary array already are. Numeric Arrow
columns without nulls reach numpy without a copy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import ContractError


@dataclass
class Columns:
    """One call's inputs, as the native layer takes them."""

    rows: int
    numeric: np.ndarray | None
    categorical: list[tuple[np.ndarray, list[str]]]
    # Values refused before the call (of the wrong type): row, field,
    # what the contract wants, what came.
    refused: list[tuple[int, str, str, str]] = field(default_factory=list)
    kind: str = "numpy"
    index: Any = None


def _missing_columns(names: Sequence[str], present) -> None:
    missing = [n for n in names if n not in present]
    if missing:
        shown = ", ".join(f"`{n}`" for n in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ContractError(
            f"the input has no column for field {shown}{more} (the model's inputs are "
            f"{', '.join(names[:20])}{'…' if len(names) > 20 else ''})",
            [{"row": None, "field": n, "expected": "a column", "got": "no such column"} for n in missing[:100]],
            len(missing),
        )


def describe_refused(refused) -> list[str]:
    return [f"row {r}, field `{f}`: expected {e}, got {g}" for r, f, e, g in refused]


def _describe(v: Any) -> str:
    if isinstance(v, str):
        return f"the string {v[:64]!r}"
    if isinstance(v, bool):
        return f"the boolean {v}"
    if isinstance(v, (int, float)):
        return f"the number {v}"
    return f"a {type(v).__name__}"


def _numeric_from_objects(name: str, values: np.ndarray, refused: list) -> np.ndarray:
    """A column of Python objects that should hold numbers: each value that
    is not one refuses its row, naming the field."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[i] = np.nan
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out[i] = float(v)
        elif isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        else:
            try:
                import pandas as pd

                if v is pd.NA or v is pd.NaT:
                    out[i] = np.nan
                    continue
            except ImportError:
                pass
            out[i] = np.nan
            refused.append((i, name, "a number", _describe(v)))
    return out


def _codes_from_objects(name: str, values: Sequence[Any], refused: list) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes of a column that should hold strings."""
    index: dict[str, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, str):
            c = index.get(v)
            if c is None:
                c = index[v] = len(index)
            codes[i] = c
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            codes[i] = -1
        else:
            try:
                import pandas as pd

                if v is pd.NA:
                    codes[i] = -1
                    continue
            except ImportError:
                pass
            codes[i] = -1
            refused.append((i, name, "a string", _describe(v)))
    return codes, list(index)


class Schema:
    """The field names a model's inputs take, worked out once per model."""

    def __init__(self, info: dict):
        self.fields = info["inputs"]
        self.names = [f["name"] for f in self.fields]
        self.numeric_names = [f["name"] for f in self.fields if f["kind"] == "numeric"]
        self.cat_names = [f["name"] for f in self.fields if f["kind"] == "categorical"]
        self.all_numeric = not self.cat_names
        self._index = None
        # The last column index found equal to the schema: tables sliced
        # from one another share it, and an Index never changes.
        self._seen = None

    def is_exactly(self, columns, pd) -> bool:
        """Whether ``columns`` are the schema's names, in order."""
        if columns is self._seen:
            return True
        if len(columns) == len(self.names) and columns.equals(self.index(pd)):
            self._seen = columns
            return True
        return False

    def index(self, pd):
        if self._index is None:
            self._index = pd.Index(self.names)
        return self._index


def _pandas(schema: Schema, df) -> Columns:
    import pandas as pd

    names, numeric_names, cat_names = schema.names, schema.numeric_names, schema.cat_names
    refused: list[tuple[int, str, str, str]] = []
    if schema.all_numeric and schema.is_exactly(df.columns, pd):
        # The common case, and what one-row calls need to be cheap: the
        # table is exactly the schema, all numbers; no column selection.
        # (Without `na_value` pandas hands float columns over as they are;
        # nullable columns holding pd.NA refuse and take the path below.)
        try:
            return Columns(len(df), df.to_numpy(dtype=np.float64), [], refused, "pandas", df.index)
        except (TypeError, ValueError):
            pass
    _missing_columns(names, set(df.columns))
    numeric = None
    if numeric_names and len(numeric_names) > 16:
        # Many columns: one selection, converted block by block.
        part = df[numeric_names]
        try:
            numeric = part.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            numeric = np.column_stack([_numeric_series(n, part[n], refused) for n in numeric_names])
    elif numeric_names:
        # Few columns: one by one costs less than selecting them (a few
        # microseconds each against a hundred), which is what one row needs.
        numeric = np.column_stack([_numeric_series(n, df[n], refused) for n in numeric_names])
    categorical = []
    for n in cat_names:
        s = df[n]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if pd.api.types.is_string_dtype(cats.dtype) or cats.dtype == object:
                if all(isinstance(c, str) for c in cats):
                    categorical.append((s.cat.codes.to_numpy(dtype=np.int64), list(cats)))
                    continue
            codes, cats = _codes_from_objects(n, s.astype(object).to_numpy(), refused)
        elif len(s) <= 64 or pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            # (A short column is cheaper to encode here than to factorize.)
            codes, cats = _codes_from_objects(n, s.to_numpy(dtype=object), refused)
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            cats = list(uniques)
            bad = [i for i, c in enumerate(cats) if not isinstance(c, str)]
            if bad:
                codes, cats = _codes_from_objects(n, s.to_numpy(dtype=object), refused)
            else:
                codes = np.asarray(codes, dtype=np.int64)
        categorical.append((codes, cats))
    return Columns(len(df), numeric, categorical, refused, "pandas", df.index)


def _numeric_series(name: str, s, refused: list) -> np.ndarray:
    """One numeric field's column as float64, NaN for missing; a value that
    is not a number refuses its row."""
    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return np.asarray(s, dtype=np.float64)
    if dtype.kind in "fiub":  # nullable extension types: pd.NA becomes NaN
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return _numeric_from_objects(name, s.to_numpy(dtype=object), refused)


def _arrow(schema: Schema, table, kind: str) -> Columns:
    import pyarrow as pa
    import pyarrow.compute as pc

    names = schema.names
    _missing_columns(names, set(table.column_names))
    refused: list[tuple[int, str, str, str]] = []
    numeric_cols = []
    categorical = []
    for f in schema.fields:
        col = table.column(f["name"])
        t = col.type
        if f["kind"] == "numeric":
            if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
                col = col.cast(pa.float64()) if t != pa.float64() else col
                if col.null_count:
                    col = pc.fill_null(col, np.nan)
                # Zero-copy for one chunk of float64 without nulls.
                numeric_cols.append(col.to_numpy())
            else:
                numeric_cols.append(_numeric_from_objects(f["name"], np.asarray(col.to_pylist(), dtype=object), refused))
        else:
            if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
                # One dictionary for all chunks, then one array.
                arr = col.unify_dictionaries().combine_chunks() if isinstance(col, pa.ChunkedArray) else col
                codes = pc.fill_null(arr.indices.cast(pa.int64()), -1).to_numpy()
                categorical.append((np.asarray(codes, dtype=np.int64), arr.dictionary.to_pylist()))
            elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
                if pa.types.is_string_view(t):
                    col = col.cast(pa.large_string())
                enc = col.combine_chunks().dictionary_encode() if isinstance(col, pa.ChunkedArray) else col.dictionary_encode()
                codes = pc.fill_null(enc.indices.cast(pa.int64()), -1).to_numpy()
                categorical.append((np.asarray(codes, dtype=np.int64), enc.dictionary.to_pylist()))
            else:
                codes, cats = _codes_from_objects(f["name"], col.to_pylist(), refused)
                categorical.append((codes, cats))
    numeric = np.column_stack(numeric_cols) if numeric_cols else None
    return Columns(table.num_rows, numeric, categorical, refused, kind)


def _numpy(schema: Schema, X) -> Columns:
    X = np.asarray(X)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2:
        raise ContractError(f"expected a 2-D array of rows × fields, got {X.ndim} dimensions")
    fields = schema.fields
    if X.shape[1] != len(fields):
        raise ContractError(
            f"expected {len(fields)} columns, one per field in schema order "
            f"({', '.join(f['name'] for f in fields[:8])}{'…' if len(fields) > 8 else ''}), got {X.shape[1]}"
        )
    refused: list[tuple[int, str, str, str]] = []
    kinds = [f["kind"] for f in fields]
    if all(k == "numeric" for k in kinds) and X.dtype.kind in "fiub":
        return Columns(X.shape[0], np.asarray(X, dtype=np.float64), [], refused, "numpy")
    numeric_cols = []
    categorical = []
    for j, f in enumerate(fields):
        col = X[:, j]
        if f["kind"] == "numeric":
            if col.dtype.kind in "fiub":
                numeric_cols.append(col.astype(np.float64))
            else:
                numeric_cols.append(_numeric_from_objects(f["name"], col.astype(object), refused))
        else:
            categorical.append(_codes_from_objects(f["name"], col.astype(object).tolist(), refused))
    numeric = np.column_stack(numeric_cols) if numeric_cols else None
    return Columns(X.shape[0], numeric, categorical, refused, "numpy")


def columns(schema: "Schema | dict", X: Any) -> Columns:
    """The batch of ``X`` for a model with ``schema`` (or description)."""
    if isinstance(schema, dict):
        schema = Schema(schema)
    mod = type(X).__module__.partition(".")[0]
    if mod == "pandas" and hasattr(X, "columns"):
        return _pandas(schema, X)
    if mod == "polars" and hasattr(X, "to_arrow"):
        return _arrow(schema, X.to_arrow(), "polars")
    if mod == "pyarrow" and hasattr(X, "column_names"):
        return _arrow(schema, X, "arrow")
    if mod == "pyarrow" and hasattr(X, "to_table"):
        return _arrow(schema, X.to_table(), "arrow")
    if isinstance(X, dict):
        X = [X]
    if isinstance(X, list) and (not X or isinstance(X[0], dict)):
        return Columns(len(X), None, [], [], "rows", X)
    return _numpy(schema, X)


def json_rows(rows: list[dict]) -> str:
    """Rows as the JSON the server takes: NaN and None as null."""

    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, np.generic):
            return v.item()
        return v

    return json.dumps([{k: clean(v) for k, v in row.items()} for row in rows], allow_nan=True)


def frame(kind: str, data: dict[str, Any], index: Any = None):
    """A table of the caller's kind from named columns."""
    if kind == "polars":
        import polars as pl

        return pl.DataFrame(data)
    if kind == "arrow":
        import pyarrow as pa

        return pa.table(data)
    try:
        import pandas as pd
    except ImportError:  # numpy in, no pandas installed: plain columns out
        return data
    return pd.DataFrame(data, index=index)

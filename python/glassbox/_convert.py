"""A fitted estimator to ONNX, with the converter its kind needs:
skl2onnx for scikit-learn, onnxmltools for XGBoost and LightGBM,
CatBoost's own export for CatBoost.

The graph's inputs follow the training table: one float matrix named
``input`` when every column is numeric and nothing selects columns by name,
else one ``[N, 1]`` input per column, named like it (what a
``ColumnTransformer`` over a DataFrame needs). ``glassbox compile`` binds
either form to the fields.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from .errors import CompileError

# The opsets the reference pipelines were exported with and the runner
# implements; newer converters default higher.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# onnxmltools 1.16 converts up to opset 15 (what the corpus used).
ONNXMLTOOLS_OPSET = 15


def _kind(estimator: Any) -> str:
    module = type(estimator).__module__.split(".")[0]
    if module in ("xgboost", "lightgbm", "catboost"):
        return module
    return "sklearn"


def _walk(estimator: Any):
    """The estimator and every estimator inside it."""
    out = [estimator]
    if hasattr(estimator, "get_params"):
        for v in estimator.get_params(deep=True).values():
            if hasattr(v, "get_params") and not isinstance(v, type):
                out.append(v)
    for step in getattr(estimator, "steps", []):
        out.append(step[1])
    return out


def _selects_by_name(estimator: Any) -> bool:
    return any(type(e).__name__ == "ColumnTransformer" for e in _walk(estimator))


def _is_classifier(estimator: Any) -> bool:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return hasattr(final, "classes_")


def to_onnx(estimator: Any, names: list[str], categorical: set[str], name: str) -> tuple[bytes, str]:
    """The ONNX bytes of ``estimator`` and the converter that made them."""
    kind = _kind(estimator)
    try:
        if kind == "sklearn":
            return _sklearn(estimator, names, categorical, name), "skl2onnx"
        if categorical:
            raise CompileError(
                f"{type(estimator).__name__} over categorical columns ({', '.join(sorted(categorical))}): "
                "encode them first (an sklearn Pipeline with a OneHotEncoder), or pass numeric columns"
            )
        if kind in ("xgboost", "lightgbm"):
            return _onnxmltools(estimator, kind, len(names), name), "onnxmltools"
        return _catboost(estimator, name), "catboost"
    except CompileError:
        raise
    except ImportError as e:
        raise CompileError(
            f"converting {type(estimator).__name__} needs {e.name}: pip install {e.name}"
        ) from e
    except Exception as e:  # the converters raise anything at all
        raise CompileError(f"{_converter(kind)} could not convert {type(estimator).__name__}: {e}") from e


def _converter(kind: str) -> str:
    return {"sklearn": "skl2onnx", "xgboost": "onnxmltools", "lightgbm": "onnxmltools"}.get(kind, kind)


def _sklearn(estimator, names, categorical, name) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if not categorical and not _selects_by_name(estimator):
        types = [("input", FloatTensorType([None, len(names)]))]
    else:
        types = [(n, StringTensorType([None, 1]) if n in categorical else FloatTensorType([None, 1])) for n in names]

    def convert(options):
        return convert_sklearn(
            estimator, initial_types=types, target_opset=TARGET_OPSET, options=options, name=name
        )

    if not _is_classifier(estimator):
        return convert(None).SerializeToString()
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    # Probabilities as a matrix, not a list of maps (ZipMap).
    options: dict = {id(final): {"zipmap": False}}
    for _ in range(4):
        try:
            return convert(options).SerializeToString()
        except (NameError, RuntimeError, ValueError) as e:
            # Steps without probabilities have no zipmap option, and
            # skl2onnx gives one to anything that looks like a classifier
            # unless it has an option dict of its own.
            m = re.search(r"Option 'zipmap' not in \[.*?\] for class '(\w+)'", str(e))
            if not m:
                raise
            for obj in _walk(estimator):
                if type(obj).__name__ == m.group(1):
                    options[id(obj)] = {}
    return convert(options).SerializeToString()


def _onnxmltools(estimator, kind, width, name) -> bytes:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, width]))]
    if kind == "xgboost":
        model = onnxmltools.convert_xgboost(estimator, name=name, initial_types=types, target_opset=ONNXMLTOOLS_OPSET)
    else:
        model = onnxmltools.convert_lightgbm(
            estimator, name=name, initial_types=types, target_opset=ONNXMLTOOLS_OPSET, zipmap=False
        )
    return model.SerializeToString()


def _catboost(estimator, name) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        estimator.save_model(
            path,
            format="onnx",
            export_parameters={"onnx_graph_name": name, "onnx_domain": "ai.catboost", "onnx_model_version": 1},
        )
        with open(path, "rb") as f:
            return f.read()

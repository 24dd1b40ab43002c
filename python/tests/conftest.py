"""Fixtures shared by the Python tests: the reference pipelines (copied into
tests/data/sklearn from the reference set) and fitted estimators."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "sklearn"

os.environ.setdefault("OMP_NUM_THREADS", "1")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def churn_like():
    """A churn-like table: numeric and categorical columns, missing numbers,
    and a pipeline fit on it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame(
        {
            "age": rng.normal(45, 12, n).round(),
            "tenure": rng.exponential(20, n),
            "spend": rng.gamma(2.0, 30.0, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]).astype(object),
            "device": rng.choice(["ios", "android", "web"], n).astype(object),
        }
    )
    df.loc[rng.random(n) < 0.05, "tenure"] = np.nan
    logit = 0.04 * (df["age"] - 45) - 0.03 * df["tenure"].fillna(20) + (df["plan"] == "basic") * 0.8
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "churn", "stay")
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["age", "tenure", "spend"]),
            # A missing category reaches the ONNX graph as "" (string
            # tensors have no missing value), which an encoder that ignores
            # unknown categories encodes as scikit-learn encodes None: all
            # zeros.
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "device"]),
        ]
    )
    pipe = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(df, y)
    return df, y, pipe


@pytest.fixture(scope="session")
def churn_component(churn_like):
    import glassbox

    df, _, pipe = churn_like
    # `device` may be missing in live rows although it never was in training.
    return glassbox.compile(pipe, df, name="churn-py", version="1.0.0", nullable=["device"])


def pytest_report_header(config):
    import glassbox

    return f"glassbox {glassbox.__version__} ({glassbox.__file__}), python {sys.version.split()[0]}"

"""glassbox.compile: estimators of every converter family, checked against
the estimator itself; a converter that changes the model is refused."""

import numpy as np
import pandas as pd
import pytest

import glassbox


def test_hist_gradient_boosting_with_categories_is_refused():
    # skl2onnx converts HistGradientBoosting's native categorical splits
    # wrong: the component must not be handed out.
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    n = 2000
    X = pd.DataFrame({"color": rng.integers(0, 8, n).astype(np.float64), "x": rng.normal(size=n)})
    y = np.where(np.isin(X["color"], [1, 4, 6]) ^ (X["x"] > 0.5), "a", "b")
    est = HistGradientBoostingClassifier(categorical_features=[0], max_iter=30, random_state=0).fit(X, y)
    with pytest.raises(glassbox.ConversionMismatch) as e:
        glassbox.compile(est, X, name="hgb-cat")
    assert e.value.rows > 0 and e.value.checked == n
    assert "skl2onnx" in str(e.value) and "row " in str(e.value)


def test_regressor_from_numpy_and_progress():
    from sklearn.datasets import make_friedman1
    from sklearn.ensemble import GradientBoostingRegressor

    X, y = make_friedman1(n_samples=1000, random_state=1)
    est = GradientBoostingRegressor(n_estimators=40, random_state=0).fit(X, y)
    steps = []
    c = glassbox.compile(est, X, name="friedman-gbr", version="2.1.0", progress=steps.append)
    assert steps[0] == "converting to ONNX" and steps[-1] == "checking the component against the estimator"
    assert c.summary["trees"] == 40 and c.check["outside_tolerance"] == 0
    m = glassbox.load(c)
    assert [f["name"] for f in m.info["inputs"]] == [f"x{i}" for i in range(10)]
    assert m.info["version"] == "2.1.0"
    np.testing.assert_allclose(m.predict(X[:100]), est.predict(X[:100]), rtol=1e-5, atol=1e-5)
    out = m.score(X[:3])
    assert list(out.columns) == ["value"]


def test_decision_function_models():
    from sklearn.datasets import load_iris
    from sklearn.svm import LinearSVC

    X, y = load_iris(return_X_y=True, as_frame=True)
    est = LinearSVC(random_state=0).fit(X, y)
    m = glassbox.load(glassbox.compile(est, X, name="iris-svc"))
    np.testing.assert_allclose(m.decision_function(X), est.decision_function(X), atol=1e-4)
    np.testing.assert_array_equal(m.predict(X), est.predict(X))
    with pytest.raises(AttributeError, match="decision_function"):
        m.predict_proba(X)


def test_lightgbm():
    lgb = pytest.importorskip("lightgbm")
    pytest.importorskip("onnxmltools")
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=1500, n_features=12, random_state=3)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    X.loc[::17, "f3"] = np.nan
    est = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1).fit(X, y)
    c = glassbox.compile(est, X, name="lgbm")
    assert c.summary["converter"] == "onnxmltools"
    m = glassbox.load(c)
    np.testing.assert_array_equal(m.predict(X), est.predict(X))
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), atol=1e-5)
    assert [f["nullable"] for f in m.info["inputs"]][3] is True


def test_expectations_are_embedded_and_enforced(churn_like):
    df, _, pipe = churn_like
    expect = """
owner = "data-science"
contact = "ds@example.com"

[features.age]
min = 0
max = 120
severity = "hard"
"""
    m = glassbox.load(glassbox.compile(pipe, df, name="churn-expect", nullable=["device"], expect=expect))
    assert m.info["expectations"]["owner"] == "data-science"
    bad = df.iloc[:4].copy()
    bad.loc[1, "age"] = 150
    with pytest.raises(glassbox.ContractError, match="row 1, field `age`"):
        m.predict(bad)


def test_compile_errors_are_clear():
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(50, 3))
    est = LinearRegression().fit(X, X[:, 0])
    with pytest.raises(glassbox.CompileError, match="nullable names no column"):
        glassbox.compile(est, X, name="lr", nullable=["nope"])
    with pytest.raises(ValueError, match="trees must be"):
        glassbox.compile(est, X, name="lr", trees="fast")

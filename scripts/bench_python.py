#!/usr/bin/env python3
"""glassbox from Python beside onnxruntime and scikit-learn, on pipelines
like the reference set, fit here and compiled with glassbox.compile.

For each model, 10,000 rows in a pandas DataFrame, one thread everywhere:
- batch: Model.predict (and predict_proba) against onnxruntime's
  InferenceSession.run fed the usual way (``df.to_numpy(np.float32)``, or
  one array per column for per-column graphs), conversion included on both
  sides, and scikit-learn's predict_proba / predict;
- one row: the median of single-row calls from a one-row DataFrame, the
  same on every side.

  scripts/bench_python.py [--quick] [--json out.json]
  scripts/bench_python.py --spark [--mlflow]   # 1,000,000 rows in local Spark

Needs the wheel installed (scripts/test-python.sh makes a venv with it).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import glassbox  # noqa: E402

ROWS = 10_000


def churn_table(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(45, 12, n).round(),
            "tenure": rng.exponential(20, n),
            "spend": rng.gamma(2.0, 30.0, n),
            "calls": rng.poisson(3, n).astype(np.float64),
            "score": rng.normal(600, 80, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]).astype(object),
            "region": rng.choice(["north", "south", "east", "west"], n).astype(object),
            "device": rng.choice(["ios", "android", "web"], n).astype(object),
        }
    )
    df.loc[rng.random(n) < 0.05, "tenure"] = np.nan
    logit = 0.04 * (df["age"] - 45) - 0.03 * df["tenure"].fillna(20) + (df["plan"] == "basic") * 0.8
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return df, y


def churn_pipeline(trees=100):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                ["age", "tenure", "spend", "calls", "score"],
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region", "device"]),
        ]
    )
    return make_pipeline(pre, RandomForestClassifier(n_estimators=trees, max_depth=10, random_state=0, n_jobs=1))


def models(quick):
    """(name, estimator, X_train DataFrame, y) like the reference set."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_classification, make_friedman1
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    out = []
    X, y = load_digits(return_X_y=True, as_frame=True)
    X = X.astype(np.float64)
    out.append(("digits_logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), X, y))
    if not quick:
        out.append(
            (
                "digits_mlp",
                make_pipeline(StandardScaler(), MLPClassifier((128, 64), max_iter=300, random_state=0)),
                X,
                y,
            )
        )
        X, y = load_diabetes(return_X_y=True, as_frame=True)
        out.append(("diabetes_linreg", make_pipeline(MinMaxScaler(), LinearRegression()), X, y))
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        Xm = X.copy()
        Xm[np.random.default_rng(0).random(Xm.shape) < 0.05] = np.nan
        out.append(
            (
                "bc_impute_sgd",
                make_pipeline(
                    SimpleImputer(strategy="median"), StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)
                ),
                Xm,
                y,
            )
        )
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    out.append(("bc_gbc", GradientBoostingClassifier(n_estimators=150, max_depth=3, random_state=0), X, y))
    X, y = make_friedman1(n_samples=2000, random_state=0)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    out.append(("friedman_dtree_reg", DecisionTreeRegressor(max_depth=8, random_state=0), X, y))
    if not quick:
        X, y = make_classification(n_samples=2000, n_features=40, n_informative=20, random_state=0)
        X = pd.DataFrame(X, columns=[f"f{i}" for i in range(40)])
        out.append(
            ("synth_rf_large", RandomForestClassifier(n_estimators=200, max_depth=12, random_state=0, n_jobs=1), X, y)
        )
    X, y = churn_table(2000, 0)
    out.append(("churn_coltrans_rf", churn_pipeline(), X, y))
    return out


def live_rows(X, n, seed):
    """n rows like X: sampled with replacement, numbers nudged by 1 %."""
    rng = np.random.default_rng(seed)
    df = X.iloc[rng.integers(0, len(X), n)].reset_index(drop=True).copy()
    for c in df.columns:
        if pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c] * (1 + rng.normal(0, 0.01, n))
    return df


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def median_us(f, n):
    times = []
    for _ in range(n):
        t = time.perf_counter_ns()
        f()
        times.append(time.perf_counter_ns() - t)
    return float(np.median(times)) / 1000


def ort_runner(onnx_bytes, X):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    outputs = [o.name for o in sess.get_outputs()]
    if len(inputs) == 1:
        name = inputs[0].name

        def run(df):
            return sess.run(outputs, {name: df.to_numpy(np.float32)})

    else:

        def run(df):
            feed = {}
            for i in inputs:
                col = df[i.name]
                if i.type == "tensor(string)":
                    feed[i.name] = col.fillna("").to_numpy(dtype=object).reshape(-1, 1)
                else:
                    feed[i.name] = col.to_numpy(np.float32).reshape(-1, 1)
            return sess.run(outputs, feed)

    return run


def bench(quick):
    from glassbox._convert import to_onnx

    results = []
    for name, est, X, y in models(quick):
        est.fit(X, y)
        t = time.perf_counter()
        component = glassbox.compile(est, X, name=name.replace("_", "-"))
        compile_s = time.perf_counter() - t
        model = glassbox.load(component)
        names = list(X.columns)
        categorical = {c for c in names if not pd.api.types.is_numeric_dtype(X[c])}
        onnx_bytes, _ = to_onnx(est, [str(c) for c in names], categorical, name)
        ort_run = ort_runner(onnx_bytes, X)
        df = live_rows(X, ROWS, 1)
        classifier = hasattr(est, "classes_")
        repeat = 3 if quick else 7
        g = best(lambda: model.predict_proba(df) if classifier else model.predict(df), repeat)
        o = best(lambda: ort_run(df), repeat)
        s = best(lambda: est.predict_proba(df) if classifier else est.predict(df), max(1, repeat // 2))
        one = df.iloc[[17]]
        n1 = 300 if quick else 2000
        g1 = median_us(lambda: model.predict(one), n1)
        warm = glassbox.load(component, reuse_instances=True)
        g1w = median_us(lambda: warm.predict(one), n1)
        o1 = median_us(lambda: ort_run(one), n1)
        s1 = median_us(lambda: est.predict(one), max(50, n1 // 10))
        r = {
            "model": name,
            "compile_s": round(compile_s, 2),
            "glassbox_rows_s": ROWS / g,
            "onnxruntime_rows_s": ROWS / o,
            "sklearn_rows_s": ROWS / s,
            "vs_onnxruntime": o / g,
            "vs_sklearn": s / g,
            "one_row_us": {"glassbox": g1, "glassbox_warm": g1w, "onnxruntime": o1, "sklearn": s1},
        }
        results.append(r)
        print(
            f"{name:<20} batch {ROWS / g / 1e3:9.0f} k/s  ort {ROWS / o / 1e3:8.0f} k/s ({o / g:5.2f}x)  "
            f"sklearn {ROWS / s / 1e3:8.0f} k/s ({s / g:6.1f}x)  | one row {g1:7.1f} us (warm {g1w:5.1f})  ort {o1:7.1f} us  "
            f"sklearn {s1:8.1f} us  | compile {compile_s:.1f} s",
            flush=True,
        )
    return results


def spark_bench(with_mlflow):
    import tempfile

    import glassbox.spark
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        .getOrCreate()
    )
    X, y = churn_table(2000, 0)
    pipe = churn_pipeline(trees=30).fit(X, y)
    tmp = tempfile.mkdtemp()
    path = glassbox.compile(pipe, X, name="churn-spark").save(os.path.join(tmp, "churn.wasm"))
    big = live_rows(X, 1_000_000, 2)
    data = os.path.join(tmp, "rows.parquet")
    spark.createDataFrame(big).repartition(8).write.parquet(data)
    df = spark.read.parquet(data)
    cols = list(X.columns)
    out = {}

    def timed(label, column):
        t = time.perf_counter()
        df.select(column.alias("p")).agg(F.count("p")).collect()
        s = time.perf_counter() - t
        out[label] = 1_000_000 / s
        print(f"spark {label:<28} {1_000_000 / s / 1e3:8.0f} k rows/s ({s:.1f} s)", flush=True)

    predict = glassbox.spark.udf(spark, str(path), result="label")
    timed("glassbox udf (warm-up)", predict())
    timed("glassbox udf", predict())
    if with_mlflow:
        import mlflow.pyfunc
        import mlflow.sklearn

        mpath = os.path.join(tmp, "mlflow-model")
        from mlflow.models import infer_signature

        # With a signature, the UDF's columns get the model's names.
        signature = infer_signature(X, pipe.predict(X))
        mlflow.sklearn.save_model(pipe, mpath, serialization_format="cloudpickle", signature=signature)
        mudf = mlflow.pyfunc.spark_udf(spark, mpath, result_type="string", env_manager="local")
        timed("mlflow spark_udf (warm-up)", mudf(*cols))
        timed("mlflow spark_udf", mudf(*cols))
        out["glassbox_vs_mlflow"] = out["glassbox udf"] / out["mlflow spark_udf"]
        print(f"glassbox ÷ mlflow: {out['glassbox_vs_mlflow']:.2f}x")
    spark.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--spark", action="store_true")
    ap.add_argument("--mlflow", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    result = {"spark": spark_bench(a.mlflow)} if a.spark else {"models": bench(a.quick)}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

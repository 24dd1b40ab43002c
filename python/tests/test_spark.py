"""Batch scoring on a real Spark in local mode: one million rows through
glassbox.spark.udf, compared with Model.predict on the same rows."""

import os
import sys

import numpy as np
import pytest

import glassbox
import glassbox.spark

pyspark = pytest.importorskip("pyspark")

ROWS = 1_000_000


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # The workers must run this interpreter (with glassbox and pandas), and
    # everything binds to loopback.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("glassbox-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        .getOrCreate()
    )
    yield session
    session.stop()


def features(spark, rows):
    """Rows like the training table, made by Spark itself; every 100,000th
    row has no `age`, which the model's contract does not allow."""
    from pyspark.sql import functions as F

    df = spark.range(rows, numPartitions=4)
    plan = F.when(F.rand(3) < 0.5, "basic").when(F.rand(4) < 0.6, "plus").otherwise("pro")
    device = F.when(F.rand(5) < 0.05, F.lit(None)).otherwise(
        F.when(F.rand(6) < 0.33, "ios").when(F.rand(7) < 0.5, "android").otherwise("web")
    )
    return df.select(
        "id",
        F.when(F.col("id") % 100_000 == 7, F.lit(None)).otherwise(F.round(F.randn(1) * 12 + 45)).alias("age"),
        F.when(F.rand(8) < 0.05, F.lit(None)).otherwise(-F.log(F.rand(2)) * 20).alias("tenure"),
        (F.rand(9) * 120).alias("spend"),
        plan.alias("plan"),
        device.alias("device"),
    )


def test_a_million_rows_match_model_predict(spark, churn_component, tmp_path):
    path = churn_component.save(tmp_path / "churn.wasm")
    predict = glassbox.spark.udf(spark, str(path), result="struct")
    df = features(spark, ROWS)
    scored = df.withColumn("p", predict()).select(
        "id", "age", "tenure", "spend", "plan", "device", "p.label", "p.proba", "p.error"
    )
    local = scored.toPandas().sort_values("id").reset_index(drop=True)
    assert len(local) == ROWS

    # Contract violations are a column, not a failed job.
    bad = local["age"].isna()
    assert bad.sum() == ROWS // 100_000
    assert local.loc[bad, "error"].str.contains("field `age`").all()
    assert local.loc[bad, "label"].isna().all()
    assert local.loc[~bad, "error"].isna().all()

    model = glassbox.load(path)
    good = local.loc[~bad, ["age", "tenure", "spend", "plan", "device"]]
    want_labels = model.predict(good)
    want_proba = model.predict_proba(good)
    assert (local.loc[~bad, "label"].to_numpy() == want_labels.astype(str)).all()
    got_proba = np.stack(local.loc[~bad, "proba"].to_numpy())
    # The same sandboxed code on the same float64 inputs: the same bits.
    assert np.array_equal(got_proba, want_proba)


def test_label_and_value_columns(spark, churn_component):
    predict = glassbox.spark.udf(spark, bytes(churn_component), result="label")
    df = features(spark, 1000)
    out = df.withColumn("label", predict("age", "tenure", "spend", "plan", "device")).toPandas()
    assert set(out["label"].dropna()) <= {"churn", "stay"}
    with pytest.raises(ValueError, match="result='value' does not fit"):
        glassbox.spark.udf(spark, bytes(churn_component), result="value")

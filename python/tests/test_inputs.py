"""What a data scientist hands a model, and what they get back: tables of
every kind, bad values, threads."""

import threading

import numpy as np
import pandas as pd
import pytest

import glassbox


@pytest.fixture(scope="module")
def model(churn_component):
    return glassbox.load(churn_component)


def test_info_and_classes(model, churn_like):
    _, _, pipe = churn_like
    assert model.info["task"] == "classification"
    assert [f["name"] for f in model.info["inputs"]] == ["age", "tenure", "spend", "plan", "device"]
    kinds = {f["name"]: (f["kind"], f["nullable"]) for f in model.info["inputs"]}
    assert kinds["tenure"] == ("numeric", True)
    assert kinds["age"] == ("numeric", False)
    assert kinds["device"] == ("categorical", True)
    assert list(model.classes_) == list(pipe.classes_)
    assert model.info["profile"] is not None


def test_predict_matches_the_estimator(model, churn_like):
    df, _, pipe = churn_like
    np.testing.assert_array_equal(model.predict(df), pipe.predict(df))
    np.testing.assert_allclose(model.predict_proba(df), pipe.predict_proba(df), atol=1e-5)


def test_a_bad_value_names_row_and_field(model, churn_like):
    df = churn_like[0].iloc[:5].copy()
    df["age"] = df["age"].astype(object)
    df.loc[3, "age"] = "forty"
    with pytest.raises(glassbox.ContractError) as e:
        model.predict(df)
    assert "row 3, field `age`: expected a number, got the string 'forty'" in str(e.value)
    assert e.value.total == 1

    df = churn_like[0].iloc[:5].copy()
    df.loc[2, "age"] = np.nan
    df.loc[4, "spend"] = np.inf
    with pytest.raises(glassbox.ContractError) as e:
        model.predict(df)
    rows = [(v["row"], v["field"]) for v in e.value.violations]
    assert rows == [(2, "age"), (4, "spend")], e.value.violations

    out = model.score(df, errors="row")
    assert out["error"].notna().tolist() == [False, False, True, False, True]
    assert out["label"].isna().tolist() == [False, False, True, False, True]
    assert "field `spend`: expected a finite number" in out.loc[4, "error"]


def test_missing_column_and_wrong_width(model, churn_like):
    df = churn_like[0].drop(columns=["plan"])
    with pytest.raises(glassbox.ContractError, match="no column for field `plan`"):
        model.predict(df)
    with pytest.raises(glassbox.ContractError, match="expected 5 columns"):
        model.predict(np.zeros((2, 3)))


def test_unknown_category_and_missing_category(model, churn_like):
    df = churn_like[0].iloc[:3].copy()
    df.loc[0, "device"] = None
    df.loc[1, "plan"] = "enterprise"  # never seen in training: encoded as unknown
    assert len(model.predict(df)) == 3


def test_big_tables_are_scored_in_chunks(model, churn_like):
    df = churn_like[0]
    big = pd.concat([df] * 50, ignore_index=True)  # 150,000 rows, above one call's limit
    labels = model.predict(big)
    np.testing.assert_array_equal(labels[: len(df)], labels[-len(df) :])
    bad = big.copy()
    bad.loc[140_001, "age"] = np.nan
    with pytest.raises(glassbox.ContractError, match="row 140001, field `age`"):
        model.predict(bad)
    records = big.iloc[:70_000].to_dict("records")  # dicts are chunked too
    np.testing.assert_array_equal(model.predict(records), labels[:70_000])
    records[69_999]["plan"] = 3
    out = model.score(records, errors="row")
    assert out["error"].notna().sum() == 1 and out["error"].iloc[69_999] == "field `plan`: expected a string, got the number 3"


def test_many_threads_one_model(model, churn_like):
    df = churn_like[0]
    want = model.predict_proba(df)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(model.predict_proba(df))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 40
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_limits_and_signatures(churn_component):
    with pytest.raises(ValueError, match="memory_mib"):
        glassbox.load(churn_component, memory_mib=0)
    # An Ed25519 public key nobody signed with: an unsigned component is
    # refused when any key is trusted.
    import base64

    der = bytes.fromhex("302a300506032b6570032100") + bytes(range(32))
    pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"
    with pytest.raises(glassbox.SignatureError, match="not signed"):
        glassbox.load(churn_component, trusted_keys=[pem])
    with pytest.raises(glassbox.LoadError):
        glassbox.load(b"\x00asm\x01\x00\x00\x00")


def test_save_and_load_from_a_path(churn_component, tmp_path):
    path = churn_component.save(tmp_path / "m.wasm")
    m = glassbox.load(path)
    assert m.info["digest"] == glassbox.load(bytes(churn_component)).info["digest"]
    assert "churn-py" in repr(m)

"""tritonclient.http (Triton's Python HTTP client) against `glassbox serve`.

tritonclient.http sends tensors as binary data by default
(`set_data_from_numpy(..., binary_data=True)`, `InferRequestedOutput(name)`
asks for binary, and a request naming no outputs carries
`"parameters": {"binary_data_output": true}`); `binary_data=False` gives
plain JSON. Every answer is checked against the reference answers and must
be bit-identical to the existing REST form's (the `baseline` fixture).
"""

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

import refdata
from refdata import CHURN, DIGITS, FRIEDMAN, MODELS, NUMERIC_MODELS


@pytest.fixture(scope="module")
def client(server):
    c = httpclient.InferenceServerClient(server.addr, connection_timeout=30.0, network_timeout=120.0)
    yield c
    c.close()


def rows_for(model):
    # tritonclient cannot put a missing value in JSON (NaN is written as the
    # bare token NaN) nor in BYTES, so churn is sent without its 43 rows
    # that have a null.
    return refdata.complete(model)


def per_feature(model, idx, numeric="FP64", binary=True, shape_n1=False):
    cats = refdata.categorical(model)
    inputs = []
    for name in refdata.features(model):
        dt = "BYTES" if name in cats else numeric
        arr = refdata.column(model, name, idx, dt)
        if shape_n1:
            arr = arr.reshape(-1, 1)
        inp = httpclient.InferInput(name, list(arr.shape), dt)
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
    return inputs


def two_d(model, idx, datatype, binary=True, name="input-0"):
    arr = refdata.matrix(model, idx, datatype)
    inp = httpclient.InferInput(name, list(arr.shape), datatype)
    inp.set_data_from_numpy(arr, binary_data=binary)
    return [inp]


def requested(names, binary):
    return [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]


def answers(result):
    names = [o["name"] for o in result.get_response()["outputs"]]
    return {n: result.as_numpy(n) for n in names}


def binary_outputs(result):
    """Names of the outputs that came as binary data."""
    return {
        o["name"]
        for o in result.get_response()["outputs"]
        if "binary_data_size" in (o.get("parameters") or {})
    }


def baseline_datatype(datatype):
    # FP32 inputs are compared with FP32 JSON inputs; INT64 and BYTES (the
    # numbers as their shortest decimal text) with FP64 ones.
    return "FP32" if datatype == "FP32" else "FP64"


# ------------------------------------------------------------ health, metadata


def test_server_live_and_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()


def test_server_metadata(client):
    meta = client.get_server_metadata()
    assert meta["name"] == "glassbox"
    assert meta["version"]
    assert isinstance(meta["extensions"], list)


def test_server_metadata_lists_binary_tensor_data(client):
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]


@pytest.mark.parametrize("model", MODELS)
def test_model_ready(client, model):
    assert client.is_model_ready(model)


def test_unknown_model_is_not_ready(client):
    assert not client.is_model_ready("no_such_model")


@pytest.mark.parametrize("model", MODELS)
def test_model_metadata(client, model):
    meta = client.get_model_metadata(model)
    assert meta["name"] == model
    assert meta["versions"] == ["1.0.0"]
    assert meta["platform"] == "glassbox"
    cats = refdata.categorical(model)
    assert [t["name"] for t in meta["inputs"]] == refdata.features(model)
    for t in meta["inputs"]:
        assert t["datatype"] == ("BYTES" if t["name"] in cats else "FP64")
        assert t["shape"] == [-1]
    outputs = {t["name"]: t for t in meta["outputs"]}
    assert list(outputs) == refdata.output_names(model)
    if refdata.is_regressor(model):
        assert outputs["value"]["datatype"] == "FP64" and outputs["value"]["shape"] == [-1]
    else:
        assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["shape"] == [-1]
        k = len(refdata.classes(model))
        assert outputs["probabilities"]["datatype"] == "FP64"
        assert outputs["probabilities"]["shape"] == [-1, k]


@pytest.mark.parametrize("model", MODELS)
def test_model_metadata_describes_2d_form(client, model):
    meta = client.get_model_metadata(model)
    datatype = "BYTES" if refdata.categorical(model) else "FP64"
    assert meta.get("parameters", {}).get("inputs_2d") == {
        "name": "input-0",
        "datatype": datatype,
        "shape": [-1, len(refdata.features(model))],
    }


def test_model_metadata_unknown_model(client):
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("no_such_model")
    assert e.value.status() == "404"
    assert "no_such_model" in e.value.message()


# ------------------------------------------------------- one tensor per feature


@pytest.mark.parametrize("model", MODELS)
def test_per_feature_json(client, baseline, model):
    idx = rows_for(model)
    names = refdata.output_names(model)
    result = client.infer(model, per_feature(model, idx, binary=False), outputs=requested(names, False))
    assert binary_outputs(result) == set()
    got = answers(result)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} per-feature JSON")


@pytest.mark.parametrize("model", NUMERIC_MODELS)
def test_per_feature_json_fp32_n_by_1(client, baseline, model):
    idx = rows_for(model)
    inputs = per_feature(model, idx, numeric="FP32", binary=False, shape_n1=True)
    result = client.infer(model, inputs, outputs=requested(refdata.output_names(model), False))
    got = answers(result)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx, "FP32"), f"{model} per-feature FP32 [N,1] JSON")


@pytest.mark.parametrize("model", MODELS)
def test_per_feature_binary(client, baseline, model):
    """tritonclient's defaults: binary inputs, no outputs named, so
    binary_data_output is set and every output must come back binary."""
    idx = rows_for(model)
    result = client.infer(model, per_feature(model, idx, binary=True))
    assert binary_outputs(result) == set(refdata.output_names(model))
    got = answers(result)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} per-feature binary")


@pytest.mark.parametrize("model", NUMERIC_MODELS)
def test_per_feature_binary_fp32(client, baseline, model):
    idx = rows_for(model)
    result = client.infer(model, per_feature(model, idx, numeric="FP32", binary=True))
    refdata.assert_identical(answers(result), baseline(model, idx, "FP32"), f"{model} per-feature FP32 binary")


def test_binary_inputs_json_outputs(client, baseline):
    idx = rows_for(DIGITS)
    names = refdata.output_names(DIGITS)
    result = client.infer(DIGITS, per_feature(DIGITS, idx, binary=True), outputs=requested(names, False))
    assert binary_outputs(result) == set()
    refdata.assert_identical(answers(result), baseline(DIGITS, idx), "binary in, JSON out")


def test_json_inputs_binary_outputs(client, baseline):
    idx = rows_for(CHURN)
    names = refdata.output_names(CHURN)
    result = client.infer(CHURN, per_feature(CHURN, idx, binary=False), outputs=requested(names, True))
    assert binary_outputs(result) == set(names)
    refdata.assert_identical(answers(result), baseline(CHURN, idx), "JSON in, binary out")


def test_one_output_binary_the_other_json(client, baseline):
    idx = rows_for(CHURN)
    outputs = [
        httpclient.InferRequestedOutput("label", binary_data=False),
        httpclient.InferRequestedOutput("probabilities", binary_data=True),
    ]
    result = client.infer(CHURN, per_feature(CHURN, idx, binary=True), outputs=outputs)
    assert binary_outputs(result) == {"probabilities"}
    refdata.assert_identical(answers(result), baseline(CHURN, idx), "mixed outputs")


def test_binary_numeric_json_categorical_inputs(client, baseline):
    """Binary and JSON inputs in one request: the binary section holds only
    the numeric tensors, in the order of the inputs."""
    idx = rows_for(CHURN)
    cats = refdata.categorical(CHURN)
    inputs = []
    for name in refdata.features(CHURN):
        dt = "BYTES" if name in cats else "FP64"
        inp = httpclient.InferInput(name, [len(idx)], dt)
        inp.set_data_from_numpy(refdata.column(CHURN, name, idx, dt), binary_data=name not in cats)
        inputs.append(inp)
    result = client.infer(CHURN, inputs)
    refdata.assert_identical(answers(result), baseline(CHURN, idx), "binary numeric + JSON categorical")


# --------------------------------------------------------- one 2-D tensor


NUMERIC_2D = [
    (DIGITS, "FP64"),
    (DIGITS, "FP32"),
    (DIGITS, "INT64"),  # the pixels are integers 0..16
    (FRIEDMAN, "FP64"),
    (FRIEDMAN, "FP32"),
]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model,datatype", NUMERIC_2D, ids=[f"{m}-{d}" for m, d in NUMERIC_2D])
def test_2d_numeric(client, baseline, model, datatype, binary):
    idx = rows_for(model)
    names = refdata.output_names(model)
    result = client.infer(model, two_d(model, idx, datatype, binary), outputs=requested(names, binary))
    got = answers(result)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx, baseline_datatype(datatype)), f"{model} 2-D {datatype}")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_2d_bytes_churn(client, baseline, binary):
    """Churn's 2-D form is BYTES: numbers as their decimal text."""
    idx = rows_for(CHURN)
    result = client.infer(CHURN, two_d(CHURN, idx, "BYTES", binary), outputs=requested(["label", "probabilities"], binary))
    got = answers(result)
    refdata.check_reference(CHURN, idx, got)
    refdata.assert_identical(got, baseline(CHURN, idx), "churn 2-D BYTES")


def test_2d_tensor_of_any_name(client, baseline):
    idx = rows_for(FRIEDMAN)
    result = client.infer(FRIEDMAN, two_d(FRIEDMAN, idx, "FP64", True, name="dense_input"))
    refdata.assert_identical(answers(result), baseline(FRIEDMAN, idx), "2-D named dense_input")


def test_2d_one_row(client, baseline):
    idx = rows_for(DIGITS)[:1]
    result = client.infer(DIGITS, two_d(DIGITS, idx, "FP32", True))
    refdata.assert_identical(answers(result), baseline(DIGITS, idx, "FP32"), "2-D one row")


# ---------------------------------------------------------- requested outputs


SUBSETS = [(DIGITS, "probabilities"), (CHURN, "label"), (FRIEDMAN, "value")]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model,output", SUBSETS, ids=[m for m, _ in SUBSETS])
def test_requested_output_subset(client, baseline, model, output, binary):
    idx = rows_for(model)
    result = client.infer(model, per_feature(model, idx, binary=binary), outputs=requested([output], binary))
    got = answers(result)
    assert list(got) == [output]
    assert binary_outputs(result) == ({output} if binary else set())
    want = {output: baseline(model, idx)[output]}
    refdata.assert_identical(got, want, f"{model} only {output}")


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request_body(client, baseline, algorithm):
    """request_compression_algorithm compresses the whole body (JSON and
    binary) and sends Content-Encoding; Inference-Header-Content-Length
    still counts the uncompressed JSON. The server inflates it."""
    idx = rows_for(FRIEDMAN)
    result = client.infer(FRIEDMAN, per_feature(FRIEDMAN, idx, binary=True), request_compression_algorithm=algorithm)
    refdata.assert_identical(answers(result), baseline(FRIEDMAN, idx), f"{algorithm} request")


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_response_accepted(client, baseline, algorithm):
    """response_compression_algorithm only sends Accept-Encoding; the client
    reads a compressed or a plain answer alike."""
    idx = rows_for(CHURN)
    result = client.infer(CHURN, per_feature(CHURN, idx, binary=True), response_compression_algorithm=algorithm)
    refdata.assert_identical(answers(result), baseline(CHURN, idx), f"Accept-Encoding {algorithm}")


def test_request_id_is_echoed(client):
    idx = rows_for(FRIEDMAN)[:2]
    result = client.infer(FRIEDMAN, per_feature(FRIEDMAN, idx, binary=False), request_id="req-42",
                          outputs=requested(["value"], False))
    assert result.get_response()["id"] == "req-42"


# --------------------------------------------------------------------- errors


def infer_error(client, model, inputs, outputs=None):
    with pytest.raises(InferenceServerException) as e:
        client.infer(model, inputs, outputs=outputs)
    return e.value.status(), e.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_unknown_model(client, binary):
    status, msg = infer_error(client, "no_such_model", per_feature(FRIEDMAN, [0], binary=binary))
    assert status == "404"
    assert "no_such_model" in msg


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_2d_wrong_feature_count(client, binary):
    arr = refdata.matrix(DIGITS, rows_for(DIGITS)[:3], "FP64")[:, :63]
    inp = httpclient.InferInput("input-0", [3, 63], "FP64")
    inp.set_data_from_numpy(arr, binary_data=binary)
    status, msg = infer_error(client, DIGITS, [inp])
    assert status == "400"
    assert "input-0" in msg and "64" in msg and "63" in msg, msg


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_string_in_numeric_feature_per_feature(client, binary):
    inputs = per_feature(FRIEDMAN, [0, 1], binary=binary)
    bad = httpclient.InferInput("x4", [2], "BYTES")
    bad.set_data_from_numpy(np.array(["high", "low"], dtype=np.object_), binary_data=binary)
    inputs[4] = bad
    status, msg = infer_error(client, FRIEDMAN, inputs)
    assert status == "400"
    assert "x4" in msg, msg


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_string_in_numeric_feature_2d(client, binary):
    arr = refdata.matrix(CHURN, rows_for(CHURN)[:3], "BYTES")
    arr[1, refdata.features(CHURN).index("age")] = "high"
    inp = httpclient.InferInput("input-0", list(arr.shape), "BYTES")
    inp.set_data_from_numpy(arr, binary_data=binary)
    status, msg = infer_error(client, CHURN, [inp])
    assert status == "400"
    assert "age" in msg and "high" in msg, msg


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_missing_input(client, binary):
    inputs = per_feature(FRIEDMAN, [0, 1], binary=binary)
    del inputs[3]  # x3
    status, msg = infer_error(client, FRIEDMAN, inputs)
    assert status == "400"
    assert "x3" in msg, msg


def test_nan_in_binary_data_is_a_missing_value(client, baseline):
    """The only way tritonclient can send a missing number: NaN in binary
    data (its JSON mode writes the invalid token NaN). Rows whose nulls are
    all numeric, compared with the REST form's nulls."""
    cats = refdata.categorical(CHURN)
    idx = [i for i, r in enumerate(refdata.rows(CHURN))
           if any(v is None for v in r.values()) and all(r[c] is not None for c in cats)]
    inputs = []
    for name in refdata.features(CHURN):
        if name in cats:
            arr = refdata.column(CHURN, name, idx, "BYTES")
        else:
            arr = np.array([np.nan if refdata.rows(CHURN)[i][name] is None else refdata.rows(CHURN)[i][name]
                            for i in idx], dtype=np.float64)
        inp = httpclient.InferInput(name, [len(idx)], "BYTES" if name in cats else "FP64")
        inp.set_data_from_numpy(arr, binary_data=True)
        inputs.append(inp)
    result = client.infer(CHURN, inputs)
    refdata.assert_identical(answers(result), baseline(CHURN, idx), "NaN as missing")


LIMITS = [(20000, "FP64"), (12000, "FP32")]


@pytest.mark.parametrize("rows,datatype", LIMITS, ids=["10MB-body", "12000-rows"])
def test_request_over_the_limits(client, rows, datatype):
    """[20000, 64] FP64 (10 MB) is over max_body_bytes (8 MiB); [12000, 64]
    FP32 (3 MB) over max_rows (10,000): 413, and the client's connection
    still serves."""
    arr = np.zeros((rows, 64), dtype=refdata.np_dtype(datatype))
    inp = httpclient.InferInput("input-0", list(arr.shape), datatype)
    inp.set_data_from_numpy(arr, binary_data=True)
    status, _ = infer_error(client, DIGITS, [inp])
    assert status == "413"
    assert client.is_server_live()

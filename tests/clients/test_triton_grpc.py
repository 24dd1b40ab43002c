"""tritonclient.grpc (Triton's Python gRPC client) against `glassbox serve`,
on the same port as REST.

tritonclient.grpc always sends tensors in raw_input_contents
(`set_data_from_numpy` has no typed form) and reads answers from
raw_output_contents (its `as_numpy` reads typed contents only for BYTES).
Typed `contents` are sent here with Triton's own generated stub
(tritonclient.grpc.service_pb2_grpc), and their answers read from the typed
fields: tritonclient's InferResult.as_numpy cannot read typed outputs (it
returns an empty array for numeric ones, and with NumPy 2 raises on BYTES
ones: `np.array(..., copy=False)`). Every answer is checked against the reference answers and must be
bit-identical to the REST form's (the `baseline` fixture).
"""

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import (
    InferenceServerException,
    deserialize_bytes_tensor,
    serialize_byte_tensor,
    triton_to_np_dtype,
)

import refdata
from refdata import CHURN, DIGITS, FRIEDMAN, MODELS, NUMERIC_MODELS


@pytest.fixture(scope="module")
def client(server):
    c = grpcclient.InferenceServerClient(server.addr)
    yield c
    c.close()


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(server.addr)
    yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def rows_for(model):
    # Rows without a missing value: raw and typed numeric contents have no
    # null (see test_triton_http.py for NaN).
    return refdata.complete(model)


# ------------------------------------------------------------------ builders


def raw_per_feature(model, idx, numeric="FP64"):
    cats = refdata.categorical(model)
    inputs = []
    for name in refdata.features(model):
        dt = "BYTES" if name in cats else numeric
        arr = refdata.column(model, name, idx, dt)
        inp = grpcclient.InferInput(name, list(arr.shape), dt)
        inp.set_data_from_numpy(arr)
        inputs.append(inp)
    return inputs


def raw_2d(model, idx, datatype, name="input-0"):
    arr = refdata.matrix(model, idx, datatype)
    inp = grpcclient.InferInput(name, list(arr.shape), datatype)
    inp.set_data_from_numpy(arr)
    return [inp]


def typed_tensor(name, datatype, arr):
    t = service_pb2.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=list(arr.shape))
    flat = arr.reshape(-1)
    if datatype == "FP64":
        t.contents.fp64_contents.extend(float(v) for v in flat)
    elif datatype == "FP32":
        t.contents.fp32_contents.extend(float(v) for v in flat)
    elif datatype == "INT64":
        t.contents.int64_contents.extend(int(v) for v in flat)
    elif datatype == "BYTES":
        t.contents.bytes_contents.extend(str(v).encode("utf-8") for v in flat)
    else:
        raise ValueError(datatype)
    return t


def typed_per_feature_request(model, idx, numeric="FP64", outputs=None):
    cats = refdata.categorical(model)
    req = service_pb2.ModelInferRequest(model_name=model)
    for name in refdata.features(model):
        dt = "BYTES" if name in cats else numeric
        req.inputs.append(typed_tensor(name, dt, refdata.column(model, name, idx, dt)))
    for o in outputs or []:
        req.outputs.add(name=o)
    return req


def typed_2d_request(model, idx, datatype, outputs=None):
    req = service_pb2.ModelInferRequest(model_name=model)
    req.inputs.append(typed_tensor("input-0", datatype, refdata.matrix(model, idx, datatype)))
    for o in outputs or []:
        req.outputs.add(name=o)
    return req


def outputs_of(response):
    """{name: array} from a ModelInferResponse, raw or typed."""
    raw = list(response.raw_output_contents)
    if raw:
        assert len(raw) == len(response.outputs), "one raw_output_contents entry per output"
    out = {}
    for i, o in enumerate(response.outputs):
        if raw:
            if o.datatype == "BYTES":
                arr = deserialize_bytes_tensor(raw[i])
            else:
                arr = np.frombuffer(raw[i], dtype=triton_to_np_dtype(o.datatype))
        else:
            c = o.contents
            if o.datatype == "BYTES":
                arr = np.array(list(c.bytes_contents), dtype=np.object_)
            elif o.datatype == "FP64":
                arr = np.array(c.fp64_contents, dtype=np.float64)
            elif o.datatype == "FP32":
                arr = np.array(c.fp32_contents, dtype=np.float32)
            else:
                raise AssertionError(f"unexpected output datatype {o.datatype}")
        out[o.name] = arr.reshape(list(o.shape))
    return out


def answers(result):
    """Through tritonclient's own reader (raw outputs)."""
    response = result.get_response()
    assert len(response.raw_output_contents) == len(response.outputs), "raw inputs must get raw outputs"
    return {o.name: result.as_numpy(o.name) for o in response.outputs}


def baseline_datatype(datatype):
    return "FP32" if datatype == "FP32" else "FP64"


# ------------------------------------------------------------ health, metadata


def test_server_live_and_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()


def test_server_metadata(client):
    meta = client.get_server_metadata()
    assert meta.name == "glassbox"
    assert meta.version


@pytest.mark.parametrize("model", MODELS)
def test_model_ready(client, model):
    assert client.is_model_ready(model)


def test_unknown_model_is_not_ready(client):
    # ready=false, not an error
    assert client.is_model_ready("no_such_model") is False


@pytest.mark.parametrize("model", MODELS)
def test_model_metadata(client, model):
    meta = client.get_model_metadata(model)
    assert meta.name == model
    assert list(meta.versions) == ["1.0.0"]
    assert meta.platform == "glassbox"
    cats = refdata.categorical(model)
    assert [t.name for t in meta.inputs] == refdata.features(model)
    for t in meta.inputs:
        assert t.datatype == ("BYTES" if t.name in cats else "FP64")
        assert list(t.shape) == [-1]
    outputs = {t.name: t for t in meta.outputs}
    assert list(outputs) == refdata.output_names(model)
    if refdata.is_regressor(model):
        assert outputs["value"].datatype == "FP64" and list(outputs["value"].shape) == [-1]
    else:
        k = len(refdata.classes(model))
        assert outputs["label"].datatype == "BYTES" and list(outputs["label"].shape) == [-1]
        assert outputs["probabilities"].datatype == "FP64"
        assert list(outputs["probabilities"].shape) == [-1, k]


def test_model_metadata_as_json(client):
    meta = client.get_model_metadata(FRIEDMAN, as_json=True)
    assert [t["name"] for t in meta["inputs"]] == refdata.features(FRIEDMAN)


def test_model_metadata_unknown_model(client, server):
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("no_such_model")
    assert e.value.status() == "StatusCode.NOT_FOUND"
    status, body = refdata.rest_json("GET", f"{server.url}/v2/models/no_such_model")
    assert status == 404 and e.value.message() == body["error"]


# ------------------------------------------------------- one tensor per feature


@pytest.mark.parametrize("model", MODELS)
def test_per_feature_raw(client, baseline, model):
    idx = rows_for(model)
    result = client.infer(model, raw_per_feature(model, idx))
    got = answers(result)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} per-feature raw")
    assert result.get_response().model_name == model
    assert result.get_response().model_version == "1.0.0"


@pytest.mark.parametrize("model", NUMERIC_MODELS)
def test_per_feature_raw_fp32(client, baseline, model):
    idx = rows_for(model)
    got = answers(client.infer(model, raw_per_feature(model, idx, "FP32")))
    refdata.assert_identical(got, baseline(model, idx, "FP32"), f"{model} per-feature raw FP32")


@pytest.mark.parametrize("model", MODELS)
def test_per_feature_contents(stub, baseline, model):
    idx = rows_for(model)
    response = stub.ModelInfer(typed_per_feature_request(model, idx), timeout=60)
    assert len(response.raw_output_contents) == 0, "typed inputs must get typed outputs"
    got = outputs_of(response)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} per-feature contents")


# --------------------------------------------------------- one 2-D tensor


NUMERIC_2D = [
    (DIGITS, "FP64"),
    (DIGITS, "FP32"),
    (DIGITS, "INT64"),
    (FRIEDMAN, "FP64"),
    (FRIEDMAN, "FP32"),
]
IDS_2D = [f"{m}-{d}" for m, d in NUMERIC_2D]


@pytest.mark.parametrize("model,datatype", NUMERIC_2D, ids=IDS_2D)
def test_2d_raw(client, baseline, model, datatype):
    idx = rows_for(model)
    got = answers(client.infer(model, raw_2d(model, idx, datatype)))
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx, baseline_datatype(datatype)), f"{model} 2-D raw {datatype}")


@pytest.mark.parametrize("model,datatype", NUMERIC_2D, ids=IDS_2D)
def test_2d_contents(stub, baseline, model, datatype):
    idx = rows_for(model)
    response = stub.ModelInfer(typed_2d_request(model, idx, datatype), timeout=60)
    assert len(response.raw_output_contents) == 0
    got = outputs_of(response)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx, baseline_datatype(datatype)), f"{model} 2-D contents {datatype}")


def test_2d_bytes_churn_raw(client, baseline):
    idx = rows_for(CHURN)
    got = answers(client.infer(CHURN, raw_2d(CHURN, idx, "BYTES")))
    refdata.check_reference(CHURN, idx, got)
    refdata.assert_identical(got, baseline(CHURN, idx), "churn 2-D BYTES raw")


def test_2d_bytes_churn_contents(stub, baseline):
    idx = rows_for(CHURN)
    response = stub.ModelInfer(typed_2d_request(CHURN, idx, "BYTES"), timeout=60)
    got = outputs_of(response)
    refdata.check_reference(CHURN, idx, got)
    refdata.assert_identical(got, baseline(CHURN, idx), "churn 2-D BYTES contents")


def test_2d_tensor_of_any_name(client, baseline):
    idx = rows_for(DIGITS)
    got = answers(client.infer(DIGITS, raw_2d(DIGITS, idx, "FP64", name="pixels")))
    refdata.assert_identical(got, baseline(DIGITS, idx), "2-D named pixels")


# ---------------------------------------------------------- requested outputs


SUBSETS = [(DIGITS, "probabilities"), (CHURN, "label"), (FRIEDMAN, "value")]


@pytest.mark.parametrize("model,output", SUBSETS, ids=[m for m, _ in SUBSETS])
def test_requested_output_subset_raw(client, baseline, model, output):
    idx = rows_for(model)
    result = client.infer(model, raw_per_feature(model, idx), outputs=[grpcclient.InferRequestedOutput(output)])
    got = answers(result)
    assert list(got) == [output]
    refdata.assert_identical(got, {output: baseline(model, idx)[output]}, f"{model} only {output}")


@pytest.mark.parametrize("model,output", SUBSETS, ids=[m for m, _ in SUBSETS])
def test_requested_output_subset_contents(stub, baseline, model, output):
    idx = rows_for(model)
    response = stub.ModelInfer(typed_per_feature_request(model, idx, outputs=[output]), timeout=60)
    got = outputs_of(response)
    assert list(got) == [output]
    refdata.assert_identical(got, {output: baseline(model, idx)[output]}, f"{model} only {output}")


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request(client, baseline, algorithm):
    """infer(compression_algorithm=...) sends grpc-encoding and compressed
    messages: decoded, or refused with UNIMPLEMENTED (gRPC's answer to an
    encoding the server lacks)."""
    idx = rows_for(DIGITS)
    try:
        result = client.infer(DIGITS, raw_per_feature(DIGITS, idx), compression_algorithm=algorithm)
    except InferenceServerException as e:
        assert e.status() == "StatusCode.UNIMPLEMENTED", (e.status(), e.message())
        return
    refdata.assert_identical(answers(result), baseline(DIGITS, idx), f"{algorithm} request")


def test_request_id_is_echoed(client):
    result = client.infer(FRIEDMAN, raw_per_feature(FRIEDMAN, [0, 1]), request_id="req-7")
    assert result.get_response().id == "req-7"


def test_version_addressed(client, baseline):
    idx = rows_for(FRIEDMAN)[:5]
    got = answers(client.infer(FRIEDMAN, raw_per_feature(FRIEDMAN, idx), model_version="1.0.0"))
    refdata.assert_identical(got, baseline(FRIEDMAN, idx), "version 1.0.0")


# --------------------------------------------------------------------- errors


def infer_error(client, model, inputs, **kw):
    with pytest.raises(InferenceServerException) as e:
        client.infer(model, inputs, **kw)
    return e.value.status(), e.value.message()


def test_unknown_model(client, rest_error):
    status, msg = infer_error(client, "no_such_model", raw_per_feature(FRIEDMAN, [0]))
    assert status == "StatusCode.NOT_FOUND"
    rest_status, rest_msg = rest_error("no_such_model", refdata.per_feature_request(FRIEDMAN, [0]))
    assert rest_status == 404 and msg == rest_msg


def test_unknown_version(client, server):
    status, msg = infer_error(client, FRIEDMAN, raw_per_feature(FRIEDMAN, [0]), model_version="9.9.9")
    assert status == "StatusCode.NOT_FOUND"
    rest_status, rest = refdata.rest_json(
        "POST", f"{server.url}/v2/models/{FRIEDMAN}/versions/9.9.9/infer", refdata.per_feature_request(FRIEDMAN, [0])
    )
    assert rest_status == 404 and msg == rest["error"]


def test_2d_wrong_feature_count(client, rest_error):
    arr = refdata.matrix(DIGITS, rows_for(DIGITS)[:3], "FP64")[:, :63]
    inp = grpcclient.InferInput("input-0", [3, 63], "FP64")
    inp.set_data_from_numpy(arr)
    status, msg = infer_error(client, DIGITS, [inp])
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "input-0" in msg and "64" in msg and "63" in msg, msg
    payload = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [3, 63], "data": arr.reshape(-1).tolist()}]}
    assert rest_error(DIGITS, payload) == (400, msg)


def test_string_in_numeric_feature_2d(client, rest_error):
    arr = refdata.matrix(CHURN, rows_for(CHURN)[:3], "BYTES")
    arr[1, refdata.features(CHURN).index("age")] = "high"
    inp = grpcclient.InferInput("input-0", list(arr.shape), "BYTES")
    inp.set_data_from_numpy(arr)
    status, msg = infer_error(client, CHURN, [inp])
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "age" in msg and "high" in msg, msg
    payload = {"inputs": [{"name": "input-0", "datatype": "BYTES", "shape": list(arr.shape), "data": arr.reshape(-1).tolist()}]}
    assert rest_error(CHURN, payload) == (400, msg)


def test_string_in_numeric_feature_per_feature(client, rest_error):
    inputs = raw_per_feature(FRIEDMAN, [0, 1])
    bad = grpcclient.InferInput("x4", [2], "BYTES")
    bad.set_data_from_numpy(np.array(["high", "low"], dtype=np.object_))
    inputs[4] = bad
    status, msg = infer_error(client, FRIEDMAN, inputs)
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "x4" in msg, msg
    payload = refdata.per_feature_request(FRIEDMAN, [0, 1])
    payload["inputs"][4] = {"name": "x4", "datatype": "BYTES", "shape": [2], "data": ["high", "low"]}
    assert rest_error(FRIEDMAN, payload) == (400, msg)


def test_missing_input(client, rest_error):
    inputs = raw_per_feature(FRIEDMAN, [0, 1])
    del inputs[3]
    status, msg = infer_error(client, FRIEDMAN, inputs)
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "x3" in msg, msg
    payload = refdata.per_feature_request(FRIEDMAN, [0, 1])
    del payload["inputs"][3]
    assert rest_error(FRIEDMAN, payload) == (400, msg)


def test_fewer_raw_contents_than_inputs(stub):
    """Malformed: raw_input_contents must hold one entry per input."""
    req = service_pb2.ModelInferRequest(model_name=FRIEDMAN)
    for name in refdata.features(FRIEDMAN):
        req.inputs.add(name=name, datatype="FP64", shape=[1])
    for name in refdata.features(FRIEDMAN)[:-1]:
        req.raw_input_contents.append(np.array([0.5]).tobytes())
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_raw_contents_of_the_wrong_size(stub):
    """Malformed: 12 bytes cannot be an FP64 tensor of shape [2]."""
    req = service_pb2.ModelInferRequest(model_name=FRIEDMAN)
    for name in refdata.features(FRIEDMAN):
        req.inputs.add(name=name, datatype="FP64", shape=[2])
        req.raw_input_contents.append(np.array([0.5, 0.25]).tobytes())
    req.raw_input_contents[2] = b"\x00" * 12
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x2" in e.value.details(), e.value.details()


def test_raw_bytes_element_overruns(stub):
    """Malformed BYTES raw: a length prefix longer than what follows."""
    arr = refdata.matrix(CHURN, rows_for(CHURN)[:1], "BYTES")
    raw = serialize_byte_tensor(arr).item()
    req = service_pb2.ModelInferRequest(model_name=CHURN)
    req.inputs.add(name="input-0", datatype="BYTES", shape=list(arr.shape))
    req.raw_input_contents.append(raw[:-3])
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


LIMITS = [(20000, "FP64"), (12000, "FP32")]


@pytest.mark.parametrize("rows,datatype", LIMITS, ids=["10MB-message", "12000-rows"])
def test_request_over_the_limits(client, rows, datatype):
    """[20000, 64] FP64 (10 MB) is over max_body_bytes (8 MiB); [12000, 64]
    FP32 (3 MB) over max_rows (10,000): RESOURCE_EXHAUSTED (tonic's own
    decode limit answers OUT_OF_RANGE)."""
    arr = np.zeros((rows, 64), dtype=refdata.np_dtype(datatype))
    inp = grpcclient.InferInput("input-0", list(arr.shape), datatype)
    inp.set_data_from_numpy(arr)
    status, msg = infer_error(client, DIGITS, [inp])
    assert status == "StatusCode.RESOURCE_EXHAUSTED", (status, msg)
    assert client.is_server_live()

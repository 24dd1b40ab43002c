"""The KServe Python SDK's clients (kserve.InferenceRESTClient,
kserve.InferenceGRPCClient) against `glassbox serve`.

Runs in a pytest process of its own: kserve and tritonclient.grpc cannot be
imported together (see conftest.py).

What the SDK sends: the REST client posts JSON (`InferInput(data=list or
ndarray)`), or Triton's binary tensor data once an input went through
`set_data_from_numpy` (its default binary_data=True), with
`inference-header-content-length` and content-type
application/octet-stream; every body carries "id" (a uuid4 unless given)
and "model_name". The gRPC client puts ndarray data in raw_input_contents
(each such input also carrying the parameter binary_data_size) and list data
in typed contents. Neither client has a metadata call: metadata is fetched
with httpx (the REST client's transport) and with the SDK's own gRPC stub.
"""

import asyncio

import grpc
import httpx
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from kserve.protocol.infer_type import RequestedOutput

import refdata
from refdata import CHURN, DIGITS, FRIEDMAN, MODELS

run = asyncio.run


def rest_client():
    return InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=120))


def grpc_client(server):
    return InferenceGRPCClient(server.addr, timeout=120)


def answers(response):
    return {o.name: o.as_numpy() for o in response.outputs}


def numpy_per_feature(model, idx, numeric="FP64", binary=None):
    """ndarray data: JSON over REST, raw over gRPC; binary=True goes through
    set_data_from_numpy (binary over REST too)."""
    cats = refdata.categorical(model)
    inputs = []
    for name in refdata.features(model):
        dt = "BYTES" if name in cats else numeric
        arr = refdata.column(model, name, idx, dt)
        if binary:
            inp = InferInput(name, [len(idx)], dt)
            inp.set_data_from_numpy(arr, binary_data=True)
        else:
            inp = InferInput(name, [len(idx)], dt, data=arr)
        inputs.append(inp)
    return inputs


def list_per_feature(model, idx, numeric="FP64"):
    """Plain lists, None for a missing value: JSON over REST (null), typed
    contents over gRPC."""
    cats = refdata.categorical(model)
    return [
        InferInput(
            name,
            [len(idx)],
            "BYTES" if name in cats else numeric,
            data=[refdata.json_value(refdata.rows(model)[i][name], "BYTES" if name in cats else numeric) for i in idx],
        )
        for name in refdata.features(model)
    ]


# ======================================================================= REST


async def rest_infer(server, model, inputs, outputs=None, parameters=None, headers_out=None):
    async with rest_client() as c:
        return await c.infer(
            server.url,
            InferRequest(model, inputs, request_outputs=outputs, parameters=parameters),
            model_name=model,
            response_headers=headers_out,
        )


async def rest_failure(server, model, inputs):
    async with rest_client() as c:
        with pytest.raises(httpx.HTTPStatusError) as e:
            await c.infer(server.url, InferRequest(model, inputs), model_name=model)
    return e.value.response.status_code, str(e.value)


def test_rest_health(server):
    async def go():
        async with rest_client() as c:
            assert await c.is_server_live(server.url)
            assert await c.is_server_ready(server.url)
            for model in MODELS:
                assert await c.is_model_ready(server.url, model)
            assert not await c.is_model_ready(server.url, "no_such_model")

    run(go())


def test_rest_metadata(server):
    # The SDK has no metadata call; httpx is what its REST client runs on.
    with httpx.Client(base_url=server.url, timeout=60) as h:
        assert h.get("/v2").json()["name"] == "glassbox"
        meta = h.get(f"/v2/models/{CHURN}").json()
        assert [t["name"] for t in meta["inputs"]] == refdata.features(CHURN)
        assert h.get("/v2/models/no_such_model").status_code == 404


@pytest.mark.parametrize("model", MODELS)
def test_rest_per_feature_numpy(server, baseline, model):
    idx = refdata.complete(model)
    got = answers(run(rest_infer(server, model, numpy_per_feature(model, idx))))
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} kserve REST ndarray")


def test_rest_per_feature_lists_with_nulls(server, baseline):
    """All 200 churn rows, 43 of them with a null."""
    idx = refdata.all_rows(CHURN)
    got = answers(run(rest_infer(server, CHURN, list_per_feature(CHURN, idx))))
    refdata.check_reference(CHURN, idx, got)
    refdata.assert_identical(got, baseline(CHURN, idx), "kserve REST lists with nulls")


@pytest.mark.parametrize("model", MODELS)
def test_rest_binary(server, baseline, model):
    idx = refdata.complete(model)
    headers = {}
    response = run(rest_infer(server, model, numpy_per_feature(model, idx, binary=True),
                              parameters={"binary_data_output": True}, headers_out=headers))
    assert "inference-header-content-length" in {k.lower() for k in headers}, "binary outputs expected"
    got = answers(response)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} kserve REST binary")


def test_rest_binary_inputs_json_outputs(server, baseline):
    idx = refdata.complete(DIGITS)
    headers = {}
    response = run(rest_infer(server, DIGITS, numpy_per_feature(DIGITS, idx, binary=True), headers_out=headers))
    assert "inference-header-content-length" not in {k.lower() for k in headers}
    refdata.assert_identical(answers(response), baseline(DIGITS, idx), "kserve REST binary in, JSON out")


@pytest.mark.parametrize("datatype,binary", [("FP64", False), ("FP32", True)])
def test_rest_2d_numeric(server, baseline, datatype, binary):
    idx = refdata.complete(DIGITS)
    arr = refdata.matrix(DIGITS, idx, datatype)
    if binary:
        inp = InferInput("input-0", list(arr.shape), datatype)
        inp.set_data_from_numpy(arr)
    else:
        inp = InferInput("input-0", list(arr.shape), datatype, data=arr)
    got = answers(run(rest_infer(server, DIGITS, [inp])))
    refdata.check_reference(DIGITS, idx, got)
    refdata.assert_identical(got, baseline(DIGITS, idx, datatype), f"kserve REST 2-D {datatype}")


def test_rest_2d_bytes_with_numbers_and_nulls(server, baseline):
    """Churn's 2-D BYTES tensor as JSON: numbers as JSON numbers, categories
    as strings, null for a missing value; all 200 rows."""
    idx = refdata.all_rows(CHURN)
    names = refdata.features(CHURN)
    flat = [refdata.rows(CHURN)[i][n] for i in idx for n in names]
    inp = InferInput("input-0", [len(idx), len(names)], "BYTES", data=flat)
    got = answers(run(rest_infer(server, CHURN, [inp])))
    refdata.check_reference(CHURN, idx, got)
    refdata.assert_identical(got, baseline(CHURN, idx), "kserve REST 2-D BYTES with numbers and nulls")


def test_rest_requested_output(server, baseline):
    idx = refdata.complete(CHURN)
    response = run(rest_infer(server, CHURN, numpy_per_feature(CHURN, idx), outputs=[RequestedOutput("label")]))
    got = answers(response)
    assert list(got) == ["label"]
    refdata.assert_identical(got, {"label": baseline(CHURN, idx)["label"]}, "kserve REST only label")


def test_rest_unknown_model(server):
    status, msg = run(rest_failure(server, "no_such_model", numpy_per_feature(FRIEDMAN, [0])))
    assert status == 404
    # The SDK puts the server's "error" in its message when the content-type
    # is exactly application/json.
    assert "no model named `no_such_model`" in msg, msg


def test_rest_missing_input(server):
    inputs = numpy_per_feature(FRIEDMAN, [0, 1])
    del inputs[3]
    status, msg = run(rest_failure(server, FRIEDMAN, inputs))
    assert status == 400
    assert "x3" in msg, msg


def test_rest_2d_wrong_feature_count(server):
    arr = refdata.matrix(DIGITS, refdata.complete(DIGITS)[:2], "FP64")[:, :63]
    status, msg = run(rest_failure(server, DIGITS, [InferInput("input-0", [2, 63], "FP64", data=arr)]))
    assert status == 400
    assert "input-0" in msg and "64" in msg and "63" in msg, msg


# ======================================================================= gRPC


async def grpc_infer(server, model, inputs, outputs=None, request_id=None):
    async with grpc_client(server) as c:
        return await c.infer(InferRequest(model, inputs, request_id=request_id, request_outputs=outputs))


async def grpc_failure(server, model, inputs):
    async with grpc_client(server) as c:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await c.infer(InferRequest(model, inputs))
    return e.value.code(), e.value.details()


def test_grpc_health(server):
    async def go():
        async with grpc_client(server) as c:
            assert await c.is_server_live()
            assert await c.is_server_ready()
            for model in MODELS:
                assert await c.is_model_ready(model)
            assert await c.is_model_ready("no_such_model") is False

    run(go())


def test_grpc_metadata(server):
    # No metadata call in InferenceGRPCClient: the SDK's generated stub.
    async def go():
        async with grpc.aio.insecure_channel(server.addr) as channel:
            stub = GRPCInferenceServiceStub(channel)
            meta = await stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=60)
            assert meta.name == "glassbox"
            model = await stub.ModelMetadata(pb.ModelMetadataRequest(name=CHURN), timeout=60)
            assert [t.name for t in model.inputs] == refdata.features(CHURN)
            assert [t.name for t in model.outputs] == ["label", "probabilities"]
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.ModelMetadata(pb.ModelMetadataRequest(name="no_such_model"), timeout=60)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND

    run(go())


@pytest.mark.parametrize("model", MODELS)
def test_grpc_per_feature_raw(server, baseline, model):
    idx = refdata.complete(model)
    response = run(grpc_infer(server, model, numpy_per_feature(model, idx), request_id="k-1"))
    assert response.id == "k-1" and response.model_name == model
    got = answers(response)
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} kserve gRPC raw")


@pytest.mark.parametrize("model", MODELS)
def test_grpc_per_feature_contents(server, baseline, model):
    idx = refdata.complete(model)
    got = answers(run(grpc_infer(server, model, list_per_feature(model, idx))))
    refdata.check_reference(model, idx, got)
    refdata.assert_identical(got, baseline(model, idx), f"{model} kserve gRPC contents")


def test_grpc_2d_raw_fp32(server, baseline):
    idx = refdata.complete(FRIEDMAN)
    arr = refdata.matrix(FRIEDMAN, idx, "FP32")
    got = answers(run(grpc_infer(server, FRIEDMAN, [InferInput("input-0", list(arr.shape), "FP32", data=arr)])))
    refdata.check_reference(FRIEDMAN, idx, got)
    refdata.assert_identical(got, baseline(FRIEDMAN, idx, "FP32"), "kserve gRPC 2-D raw FP32")


def test_grpc_2d_bytes_contents(server, baseline):
    idx = refdata.complete(CHURN)
    arr = refdata.matrix(CHURN, idx, "BYTES")
    inp = InferInput("input-0", list(arr.shape), "BYTES", data=list(arr.reshape(-1)))
    got = answers(run(grpc_infer(server, CHURN, [inp])))
    refdata.check_reference(CHURN, idx, got)
    refdata.assert_identical(got, baseline(CHURN, idx), "kserve gRPC 2-D BYTES contents")


def test_grpc_requested_output(server, baseline):
    idx = refdata.complete(DIGITS)
    response = run(grpc_infer(server, DIGITS, numpy_per_feature(DIGITS, idx), outputs=[RequestedOutput("probabilities")]))
    got = answers(response)
    assert list(got) == ["probabilities"]
    refdata.assert_identical(got, {"probabilities": baseline(DIGITS, idx)["probabilities"]}, "kserve gRPC only probabilities")


def test_grpc_unknown_model(server, rest_error):
    code, details = run(grpc_failure(server, "no_such_model", numpy_per_feature(FRIEDMAN, [0])))
    assert code == grpc.StatusCode.NOT_FOUND
    assert (404, details) == rest_error("no_such_model", refdata.per_feature_request(FRIEDMAN, [0]))


def test_grpc_missing_input(server, rest_error):
    inputs = list_per_feature(FRIEDMAN, [0, 1])
    del inputs[3]
    code, details = run(grpc_failure(server, FRIEDMAN, inputs))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "x3" in details, details
    payload = refdata.per_feature_request(FRIEDMAN, [0, 1])
    del payload["inputs"][3]
    assert (400, details) == rest_error(FRIEDMAN, payload)

#!/usr/bin/env python3
"""Generate single-operator ONNX graphs and the outputs onnxruntime gives.

Run from the repository root with the pinned environment:

    PY="$(scripts/pyenv.sh | tail -n1)"
    "$PY" tests/data/ops/generate.py

Writes tests/data/ops/<case>.onnx for every case, tests/data/ops/cases.json
(inputs and onnxruntime's outputs for each case) and
tests/data/ops/dropped.json (cases onnxruntime refused, with its error).
See README.md in this folder for the JSON layout.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
SEED = 12345
NAN = float("nan")
INF = float("inf")

FLOAT = TensorProto.FLOAT
DOUBLE = TensorProto.DOUBLE
INT64 = TensorProto.INT64
STRING = TensorProto.STRING
BOOL = TensorProto.BOOL

ELEM_NAME = {FLOAT: "float32", DOUBLE: "float64", INT64: "int64", STRING: "string", BOOL: "bool"}


# --------------------------------------------------------------------------
# value constructors


def f32(x):
    return np.array(x, dtype=np.float32)


def f64(x):
    return np.array(x, dtype=np.float64)


def i64(x):
    return np.array(x, dtype=np.int64)


def b(x):
    return np.array(x, dtype=np.bool_)


def s(x):
    return np.array(x, dtype=object)


class MapValue:
    """A single map input (what onnxruntime accepts for DictVectorizer and
    CastMap)."""

    def __init__(self, key_type, value_type, data):
        self.key_type = key_type
        self.value_type = value_type
        self.data = data


# Output type markers beyond plain tensors.
class SeqMap:
    def __init__(self, key_type, value_type):
        self.key_type = key_type
        self.value_type = value_type


def np_elem(arr):
    if arr.dtype == np.float32:
        return FLOAT
    if arr.dtype == np.float64:
        return DOUBLE
    if arr.dtype == np.int64:
        return INT64
    if arr.dtype == np.bool_:
        return BOOL
    if arr.dtype == object or arr.dtype.kind in "US":
        return STRING
    raise TypeError(arr.dtype)


# --------------------------------------------------------------------------
# JSON encoding


def scalar_json(v, elem):
    if elem in (FLOAT, DOUBLE):
        v = float(v)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if elem == INT64:
        return int(v)
    if elem == BOOL:
        return bool(v)
    if elem == STRING:
        return v.decode() if isinstance(v, bytes) else str(v)
    raise TypeError(elem)


def tensor_json(arr):
    arr = np.asarray(arr)
    elem = np_elem(arr)
    return {
        "dtype": ELEM_NAME[elem],
        "shape": [int(d) for d in arr.shape],
        "data": [scalar_json(v, elem) for v in arr.reshape(-1).tolist()],
    }


def map_json(key_type, value_type, m):
    return {str(scalar_json(k, key_type)): scalar_json(v, value_type) for k, v in m.items()}


def map_type(key_type, value_type):
    """map(key, tensor(value)) with scalar (rank-0) keys and values, as
    skl2onnx declares them."""
    return helper.make_map_type_proto(key_type, helper.make_tensor_type_proto(value_type, []))


# Map and sequence types are named the way ONNX writes them: map(int64,float).
ONNX_ELEM_NAME = {FLOAT: "float", DOUBLE: "double", INT64: "int64", STRING: "string", BOOL: "bool"}


def map_dtype(key_type, value_type):
    return f"map({ONNX_ELEM_NAME[key_type]},{ONNX_ELEM_NAME[value_type]})"


# --------------------------------------------------------------------------
# building and running cases


class Generator:
    def __init__(self):
        self.cases = []
        self.dropped = []
        self.names = set()

    def add(
        self,
        name,
        nodes,
        inputs,
        outputs,
        inits=None,
        opset=17,
        ml=3,
        note=None,
    ):
        """nodes: list of NodeProto (or one); inputs: {name: ndarray | MapValue};
        outputs: {name: elem type | SeqMap}; inits: {name: ndarray}."""
        if name in self.names:
            raise ValueError(f"duplicate case {name}")
        self.names.add(name)
        if isinstance(nodes, onnx.NodeProto):
            nodes = [nodes]
        inits = inits or {}

        graph_inputs = []
        feed = {}
        inputs_json = {}
        for in_name, value in inputs.items():
            if isinstance(value, MapValue):
                graph_inputs.append(
                    helper.make_value_info(in_name, map_type(value.key_type, value.value_type))
                )
                feed[in_name] = value.data
                inputs_json[in_name] = {
                    "dtype": map_dtype(value.key_type, value.value_type),
                    "data": [map_json(value.key_type, value.value_type, value.data)],
                }
            else:
                graph_inputs.append(
                    helper.make_tensor_value_info(in_name, np_elem(value), list(value.shape))
                )
                feed[in_name] = value
                inputs_json[in_name] = tensor_json(value)

        initializers = [
            onnx.numpy_helper.from_array(np.asarray(v), name=k) for k, v in inits.items()
        ]
        opset_imports = [helper.make_opsetid("", opset)]
        if any(n.domain == "ai.onnx.ml" for n in nodes):
            opset_imports.append(helper.make_opsetid("ai.onnx.ml", ml))

        def build(output_shapes):
            graph_outputs = []
            for i, (out_name, kind) in enumerate(outputs.items()):
                if isinstance(kind, SeqMap):
                    tp = helper.make_sequence_type_proto(map_type(kind.key_type, kind.value_type))
                    graph_outputs.append(helper.make_value_info(out_name, tp))
                else:
                    shape = None if output_shapes is None else output_shapes[i]
                    graph_outputs.append(helper.make_tensor_value_info(out_name, kind, shape))
            graph = helper.make_graph(nodes, name, graph_inputs, graph_outputs, initializers)
            return helper.make_model(
                graph,
                opset_imports=opset_imports,
                producer_name="glassbox-tests-ops",
                ir_version=helper.find_min_ir_version_for(opset_imports),
            )

        def run(model):
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.log_severity_level = 4  # errors are reported via exceptions
            sess = ort.InferenceSession(
                model.SerializeToString(), so, providers=["CPUExecutionProvider"]
            )
            return sess.run(None, feed)

        # First run with output shapes left open, then declare the shapes
        # onnxruntime produced (the ONNX checker wants every graph output to
        # have a shape) and run again.
        try:
            results = run(build(None))
        except Exception as e:  # noqa: BLE001 - recorded as dropped
            msg = str(e).strip().splitlines()[0][:400]
            self.dropped.append({"name": name, "error": msg})
            print(f"DROP {name}: {msg}", file=sys.stderr)
            return
        shapes = [None if isinstance(r, list) else list(np.asarray(r).shape) for r in results]
        model = build(shapes)
        onnx.checker.check_model(model, full_check=True)
        again = run(model)
        for r1, r2 in zip(results, again):
            if not isinstance(r1, list):
                np.testing.assert_array_equal(np.asarray(r1), np.asarray(r2))
        model_bytes = model.SerializeToString()

        outputs_json = {}
        for (out_name, kind), value in zip(outputs.items(), results):
            if isinstance(kind, SeqMap):
                outputs_json[out_name] = {
                    "dtype": f"seq({map_dtype(kind.key_type, kind.value_type)})",
                    "data": [map_json(kind.key_type, kind.value_type, m) for m in value],
                }
            else:
                outputs_json[out_name] = tensor_json(value)

        with open(os.path.join(OUT_DIR, f"{name}.onnx"), "wb") as f:
            f.write(model_bytes)
        case = {"name": name, "model": f"{name}.onnx"}
        opsets = {(o.domain or "ai.onnx"): o.version for o in opset_imports}
        case["opset"] = opsets
        if note:
            case["note"] = note
        case["inputs"] = inputs_json
        case["outputs"] = outputs_json
        self.cases.append(case)


def node(op, inputs, outputs, domain=None, **attrs):
    return helper.make_node(op, inputs, outputs, domain=domain, **attrs)


def ml(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, domain="ai.onnx.ml", **attrs)


# --------------------------------------------------------------------------
# ai.onnx cases


def core_cases(g):
    a23 = f32([[1.0, -2.0, 3.5], [0.25, 4.0, -6.0]])
    row3 = f32([2.0, -0.5, 4.0])
    col21 = f32([[3.0], [-1.5]])
    row13 = f32([[0.5, 2.0, -4.0]])
    for op in ["Add", "Sub", "Mul", "Div"]:
        low = op.lower()
        g.add(f"{low}_bcast_row", node(op, ["A", "B"], ["Y"]), {"A": a23, "B": row3}, {"Y": FLOAT})
        g.add(
            f"{low}_bcast_outer", node(op, ["A", "B"], ["Y"]), {"A": col21, "B": row13}, {"Y": FLOAT}
        )
    g.add(
        "div_by_zero",
        node("Div", ["A", "B"], ["Y"]),
        {"A": f32([1.0, -1.0, 0.0, 5.0]), "B": f32([0.0, 0.0, 0.0, -0.0])},
        {"Y": FLOAT},
    )
    g.add(
        "add_int64",
        node("Add", ["A", "B"], ["Y"]),
        {"A": i64([[1, 2, 3], [4, 5, 6]]), "B": i64([10, -20, 30])},
        {"Y": INT64},
    )
    g.add(
        "div_int64_truncates",
        node("Div", ["A", "B"], ["Y"]),
        {"A": i64([7, -7, 7, -7]), "B": i64([2, 2, -2, -2])},
        {"Y": INT64},
    )
    g.add(
        "add_scalar_rank0",
        node("Add", ["A", "B"], ["Y"]),
        {"A": a23, "B": f32(1.5)},
        {"Y": FLOAT},
    )

    # Pow
    g.add(
        "pow_bcast",
        node("Pow", ["X", "Y"], ["Z"]),
        {"X": f32([[-2.0, 0.0, 2.0], [4.0, -8.0, 9.0]]), "Y": f32([3.0, 0.0, 0.5])},
        {"Z": FLOAT},
    )
    g.add(
        "pow_negative_base_fraction",
        node("Pow", ["X", "Y"], ["Z"]),
        {"X": f32([-8.0, -1.0, 0.0, 2.0]), "Y": f32([1.0 / 3.0, 0.5, -1.0, -2.0])},
        {"Z": FLOAT},
    )
    g.add(
        "pow_int64_exponent",
        node("Pow", ["X", "Y"], ["Z"]),
        {"X": f32([1.5, -2.0, 3.0]), "Y": i64([2, 3, 0])},
        {"Z": FLOAT},
    )

    # Unary math
    special = [0.0, -0.0, INF, -INF, NAN]
    g.add("sqrt", node("Sqrt", ["X"], ["Y"]), {"X": f32([4.0, 2.0, 0.25, -1.0] + special)}, {"Y": FLOAT})
    g.add(
        "exp",
        node("Exp", ["X"], ["Y"]),
        {"X": f32([1.0, -1.0, 88.0, 89.0, -104.0, 10.5] + special)},
        {"Y": FLOAT},
    )
    g.add("log", node("Log", ["X"], ["Y"]), {"X": f32([1.0, 2.718281828, 0.5, -1.0, 1e-30] + special)}, {"Y": FLOAT})
    g.add("abs", node("Abs", ["X"], ["Y"]), {"X": f32([-1.5, 2.0, -3e-8] + special)}, {"Y": FLOAT})
    g.add("abs_int64", node("Abs", ["X"], ["Y"]), {"X": i64([-3, 0, 7])}, {"Y": INT64})
    g.add("neg", node("Neg", ["X"], ["Y"]), {"X": f32([-1.5, 2.0] + special)}, {"Y": FLOAT})
    g.add("neg_int64", node("Neg", ["X"], ["Y"]), {"X": i64([-3, 0, 7])}, {"Y": INT64})
    g.add(
        "reciprocal",
        node("Reciprocal", ["X"], ["Y"]),
        {"X": f32([2.0, -4.0, 3.0] + special)},
        {"Y": FLOAT},
    )
    g.add("relu", node("Relu", ["X"], ["Y"]), {"X": f32([[-1.0, 0.5, 3.0]] + [special[:3]])}, {"Y": FLOAT})
    g.add(
        "sigmoid",
        node("Sigmoid", ["X"], ["Y"]),
        {"X": f32([0.0, 1.0, -1.0, 20.0, -20.0, 50.0, -50.0, -100.0, 100.0, INF, -INF, NAN])},
        {"Y": FLOAT},
    )
    g.add(
        "tanh",
        node("Tanh", ["X"], ["Y"]),
        {"X": f32([0.0, 0.5, -0.5, 3.0, 20.0, -20.0, INF, -INF, NAN])},
        {"Y": FLOAT},
    )

    # MatMul
    rng = np.random.RandomState(SEED)
    m23 = f32(rng.randint(-5, 6, size=(2, 3)) / 2)
    m34 = f32(rng.randint(-5, 6, size=(3, 4)) / 2)
    g.add("matmul_2d", node("MatMul", ["A", "B"], ["Y"]), {"A": m23, "B": m34}, {"Y": FLOAT})
    g.add(
        "matmul_batched",
        node("MatMul", ["A", "B"], ["Y"]),
        {"A": f32(rng.randint(-5, 6, size=(2, 3, 4)) / 4), "B": f32(rng.randint(-5, 6, size=(4, 5)) / 4)},
        {"Y": FLOAT},
    )
    g.add(
        "matmul_1d_2d",
        node("MatMul", ["A", "B"], ["Y"]),
        {"A": f32([1.0, -2.0, 0.5]), "B": m34},
        {"Y": FLOAT},
    )
    g.add(
        "matmul_2d_1d",
        node("MatMul", ["A", "B"], ["Y"]),
        {"A": m23, "B": f32([1.0, -2.0, 0.5])},
        {"Y": FLOAT},
    )

    # Gemm
    A = f32([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]])
    B = f32([[1.0, 0.0, 2.0, -1.0], [0.5, 1.0, -1.0, 0.0], [2.0, -2.0, 0.0, 1.0]])
    g.add(
        "gemm_c_row",
        node("Gemm", ["A", "B", "C"], ["Y"]),
        {"A": A, "B": B, "C": f32([0.5, -0.5, 1.0, 2.0])},
        {"Y": FLOAT},
    )
    g.add("gemm_no_c", node("Gemm", ["A", "B"], ["Y"]), {"A": A, "B": B}, {"Y": FLOAT})
    g.add(
        "gemm_transA",
        node("Gemm", ["A", "B", "C"], ["Y"], transA=1),
        {"A": A.T.copy(), "B": B, "C": f32([1.0])},
        {"Y": FLOAT},
    )
    g.add(
        "gemm_transB",
        node("Gemm", ["A", "B", "C"], ["Y"], transB=1),
        {"A": A, "B": B.T.copy(), "C": f32([[1.0], [-1.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "gemm_alpha_beta_c_scalar",
        node("Gemm", ["A", "B", "C"], ["Y"], alpha=0.5, beta=2.0, transA=1, transB=1),
        {"A": A.T.copy(), "B": B.T.copy(), "C": f32(3.0)},
        {"Y": FLOAT},
    )
    g.add(
        "gemm_c_full",
        node("Gemm", ["A", "B", "C"], ["Y"], alpha=-1.0, beta=0.25),
        {"A": A, "B": B, "C": f32(np.arange(8).reshape(2, 4))},
        {"Y": FLOAT},
    )

    # Softmax
    sm = f32([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])
    g.add("softmax_last_axis", node("Softmax", ["X"], ["Y"], axis=-1), {"X": sm}, {"Y": FLOAT})
    g.add("softmax_default_axis", node("Softmax", ["X"], ["Y"]), {"X": sm}, {"Y": FLOAT})
    g.add(
        "softmax_axis0",
        node("Softmax", ["X"], ["Y"], axis=0),
        {"X": f32([[1.0, -1.0, 0.0], [3.0, -1.0, 100.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "softmax_3d_axis1",
        node("Softmax", ["X"], ["Y"], axis=1),
        {"X": f32(np.arange(12).reshape(2, 3, 2) / 4)},
        {"Y": FLOAT},
    )

    # ArgMax / ArgMin with ties
    ties = f32([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 1.0, 5.0], [-1.0, -1.0, -1.0, -1.0]])
    for keep in (0, 1):
        for last in (0, 1):
            g.add(
                f"argmax_ties_keepdims{keep}_last{last}",
                node("ArgMax", ["X"], ["Y"], axis=1, keepdims=keep, select_last_index=last),
                {"X": ties},
                {"Y": INT64},
            )
    g.add("argmax_axis0_default", node("ArgMax", ["X"], ["Y"]), {"X": ties}, {"Y": INT64})
    g.add(
        "argmin_ties_first",
        node("ArgMin", ["X"], ["Y"], axis=1, keepdims=0),
        {"X": ties},
        {"Y": INT64},
    )
    g.add(
        "argmin_ties_last",
        node("ArgMin", ["X"], ["Y"], axis=-1, keepdims=1, select_last_index=1),
        {"X": ties},
        {"Y": INT64},
    )

    # Reductions (opset 17: ReduceSum takes axes as an input, the others an
    # attribute).
    x = f32([[1.0, 2.0, 3.0], [4.0, -5.0, 6.5]])
    x3 = f32(np.arange(24).reshape(2, 3, 4) / 2 - 3)
    g.add(
        "reducesum_axes1_keepdims1",
        node("ReduceSum", ["X", "axes"], ["Y"], keepdims=1),
        {"X": x},
        {"Y": FLOAT},
        inits={"axes": i64([1])},
    )
    g.add(
        "reducesum_axes1_keepdims0",
        node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0),
        {"X": x},
        {"Y": FLOAT},
        inits={"axes": i64([1])},
    )
    g.add(
        "reducesum_negative_axis",
        node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0),
        {"X": x3},
        {"Y": FLOAT},
        inits={"axes": i64([-1])},
    )
    g.add(
        "reducesum_two_axes",
        node("ReduceSum", ["X", "axes"], ["Y"], keepdims=1),
        {"X": x3},
        {"Y": FLOAT},
        inits={"axes": i64([0, 2])},
    )
    g.add(
        "reducesum_no_axes_all",
        node("ReduceSum", ["X"], ["Y"]),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add(
        "reducesum_no_axes_keepdims0",
        node("ReduceSum", ["X"], ["Y"], keepdims=0),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add(
        "reducesum_empty_axes_noop",
        node("ReduceSum", ["X", "axes"], ["Y"], noop_with_empty_axes=1),
        {"X": x},
        {"Y": FLOAT},
        inits={"axes": i64(np.zeros((0,), dtype=np.int64))},
    )
    g.add(
        "reducesum_no_axes_noop",
        node("ReduceSum", ["X"], ["Y"], noop_with_empty_axes=1),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add(
        "reducesum_empty_axes_reduce_all",
        node("ReduceSum", ["X", "axes"], ["Y"], noop_with_empty_axes=0, keepdims=0),
        {"X": x},
        {"Y": FLOAT},
        inits={"axes": i64(np.zeros((0,), dtype=np.int64))},
    )
    g.add(
        "reducesum_axes_runtime_input",
        node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0),
        {"X": x3, "axes": i64([1])},
        {"Y": FLOAT},
    )
    g.add(
        "reducemean_axes1_keepdims1",
        node("ReduceMean", ["X"], ["Y"], axes=[1], keepdims=1),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add(
        "reducemean_axes0_keepdims0",
        node("ReduceMean", ["X"], ["Y"], axes=[0], keepdims=0),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add("reducemean_all", node("ReduceMean", ["X"], ["Y"]), {"X": x3}, {"Y": FLOAT})
    g.add(
        "reducemax_axes1_keepdims0",
        node("ReduceMax", ["X"], ["Y"], axes=[1], keepdims=0),
        {"X": f32([[1.0, 7.0, -3.0], [-INF, -2.0, -9.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "reducemax_negative_axis_keepdims1",
        node("ReduceMax", ["X"], ["Y"], axes=[-2], keepdims=1),
        {"X": x3},
        {"Y": FLOAT},
    )
    g.add("reducemax_all", node("ReduceMax", ["X"], ["Y"], keepdims=0), {"X": x}, {"Y": FLOAT})
    g.add(
        "reducemin_axes0",
        node("ReduceMin", ["X"], ["Y"], axes=[0], keepdims=0),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add(
        "reduceprod_axes1_keepdims1",
        node("ReduceProd", ["X"], ["Y"], axes=[1], keepdims=1),
        {"X": x},
        {"Y": FLOAT},
    )
    g.add(
        "reducelogsumexp_axes1_keepdims0",
        node("ReduceLogSumExp", ["X"], ["Y"], axes=[1], keepdims=0),
        {"X": f32([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-5.0, 10.0, -5.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "reducelogsumexp_axes1_keepdims1",
        node("ReduceLogSumExp", ["X"], ["Y"], axes=[1], keepdims=1),
        {"X": f32([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-5.0, 10.0, -5.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "reducelogsumexp_large_values",
        node("ReduceLogSumExp", ["X"], ["Y"], axes=[1], keepdims=0),
        {"X": f32([[1000.0, 1000.0], [-1000.0, -1000.0], [80.0, 20.0]])},
        {"Y": FLOAT},
        note="naive exp overflows/underflows float32 here; records what onnxruntime gives",
    )

    # Cast
    def cast(to):
        return node("Cast", ["X"], ["Y"], to=to)

    g.add(
        "cast_float_to_int64",
        cast(INT64),
        {"X": f32([0.0, 1.7, -1.7, 2.5, -2.5, 1e6, -0.4])},
        {"Y": INT64},
        note="truncates toward zero",
    )
    g.add("cast_int64_to_float", cast(FLOAT), {"X": i64([0, -3, 16777217, 1 << 40])}, {"Y": FLOAT})
    g.add(
        "cast_float_to_string",
        cast(STRING),
        {"X": f32([1.0, -2.5, 0.1, 1e-7, 123456789.0, 3.0e20, 0.0, -0.0, INF, -INF, NAN])},
        {"Y": STRING},
    )
    g.add(
        "cast_string_to_float",
        cast(FLOAT),
        {"X": s(["1.5", "-2", "1e3", "0.1", "NaN", "INF", "-inf", "+7", "  3.25"])},
        {"Y": FLOAT},
    )
    g.add(
        "cast_float_to_bool",
        cast(BOOL),
        {"X": f32([0.0, -0.0, 0.5, -2.0, INF, NAN])},
        {"Y": BOOL},
    )
    g.add("cast_bool_to_float", cast(FLOAT), {"X": b([True, False, True])}, {"Y": FLOAT})
    g.add("cast_int64_to_bool", cast(BOOL), {"X": i64([0, 1, -5])}, {"Y": BOOL})
    g.add("cast_float_to_double", cast(DOUBLE), {"X": f32([0.1, -2.5, NAN])}, {"Y": DOUBLE})
    g.add("cast_double_to_float", cast(FLOAT), {"X": f64([0.1, 1e40, -1e-50, NAN])}, {"Y": FLOAT})
    g.add("cast_int64_to_string", cast(STRING), {"X": i64([0, -42, 1 << 40])}, {"Y": STRING})

    # Concat
    g.add(
        "concat_last_axis",
        node("Concat", ["A", "B", "C"], ["Y"], axis=-1),
        {"A": f32([[1.0], [2.0]]), "B": f32([[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]), "C": f32([[9.0, 10.0], [11.0, 12.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "concat_axis0",
        node("Concat", ["A", "B"], ["Y"], axis=0),
        {"A": f32([[1.0, 2.0]]), "B": f32([[3.0, 4.0], [5.0, 6.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "concat_string",
        node("Concat", ["A", "B"], ["Y"], axis=1),
        {"A": s([["a"], ["b"]]), "B": s([["c", "d"], ["e", ""]])},
        {"Y": STRING},
    )
    g.add(
        "concat_int64",
        node("Concat", ["A", "B"], ["Y"], axis=1),
        {"A": i64([[1], [2]]), "B": i64([[3], [4]])},
        {"Y": INT64},
    )

    # Reshape / Flatten / Squeeze / Unsqueeze
    x234 = f32(np.arange(24).reshape(2, 3, 4))
    g.add(
        "reshape_zero_and_minus_one",
        node("Reshape", ["X", "shape"], ["Y"]),
        {"X": x234},
        {"Y": FLOAT},
        inits={"shape": i64([0, -1])},
    )
    g.add(
        "reshape_minus_one_only",
        node("Reshape", ["X", "shape"], ["Y"]),
        {"X": x234},
        {"Y": FLOAT},
        inits={"shape": i64([-1])},
    )
    g.add(
        "reshape_zero_middle",
        node("Reshape", ["X", "shape"], ["Y"]),
        {"X": x234},
        {"Y": FLOAT},
        inits={"shape": i64([4, 0, -1])},
    )
    g.add(
        "reshape_runtime_shape",
        node("Reshape", ["X", "shape"], ["Y"]),
        {"X": x234, "shape": i64([-1, 6])},
        {"Y": FLOAT},
    )
    for axis in (0, 1, 2, -1):
        label = f"m{-axis}" if axis < 0 else str(axis)
        g.add(
            f"flatten_axis{label}",
            node("Flatten", ["X"], ["Y"], axis=axis),
            {"X": x234},
            {"Y": FLOAT},
        )
    g.add("flatten_default", node("Flatten", ["X"], ["Y"]), {"X": x234}, {"Y": FLOAT})
    x131 = f32([[[1.0], [2.0], [3.0]]])
    g.add(
        "squeeze_axes",
        node("Squeeze", ["X", "axes"], ["Y"]),
        {"X": x131},
        {"Y": FLOAT},
        inits={"axes": i64([0, 2])},
    )
    g.add(
        "squeeze_negative_axis",
        node("Squeeze", ["X", "axes"], ["Y"]),
        {"X": x131},
        {"Y": FLOAT},
        inits={"axes": i64([-1])},
    )
    g.add("squeeze_all", node("Squeeze", ["X"], ["Y"]), {"X": x131}, {"Y": FLOAT})
    x23 = f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for label, axes in (("0", [0]), ("m1", [-1]), ("0_3", [0, 3]), ("1", [1])):
        g.add(
            f"unsqueeze_axes{label}",
            node("Unsqueeze", ["X", "axes"], ["Y"]),
            {"X": x23},
            {"Y": FLOAT},
            inits={"axes": i64(axes)},
        )

    # Gather
    data = f32(np.arange(12).reshape(3, 4))
    g.add(
        "gather_axis0_negative",
        node("Gather", ["X", "I"], ["Y"], axis=0),
        {"X": data, "I": i64([2, -1, 0])},
        {"Y": FLOAT},
    )
    g.add(
        "gather_axis1_2d_indices",
        node("Gather", ["X", "I"], ["Y"], axis=1),
        {"X": data, "I": i64([[0, -1], [2, 1]])},
        {"Y": FLOAT},
    )
    g.add(
        "gather_scalar_index",
        node("Gather", ["X", "I"], ["Y"], axis=1),
        {"X": data, "I": i64(-2)},
        {"Y": FLOAT},
    )
    g.add(
        "gather_string",
        node("Gather", ["X", "I"], ["Y"], axis=0),
        {"X": s(["a", "b", "c"]), "I": i64([2, 0, 2])},
        {"Y": STRING},
    )

    # Where, Identity, comparisons, logic
    g.add(
        "where_bcast",
        node("Where", ["C", "X", "Y"], ["Z"]),
        {"C": b([[True], [False]]), "X": f32([[1.0, 2.0, 3.0]]), "Y": f32(-1.0)},
        {"Z": FLOAT},
    )
    g.add(
        "where_string",
        node("Where", ["C", "X", "Y"], ["Z"]),
        {"C": b([True, False, True]), "X": s(["a", "b", "c"]), "Y": s(["x", "y", "z"])},
        {"Z": STRING},
    )
    g.add("identity", node("Identity", ["X"], ["Y"]), {"X": f32([[1.0, NAN], [INF, -0.0]])}, {"Y": FLOAT})
    g.add("identity_string", node("Identity", ["X"], ["Y"]), {"X": s([["a", ""]])}, {"Y": STRING})
    cmp_a = f32([[1.0, 2.0, NAN], [3.0, -0.0, INF]])
    cmp_b = f32([1.0, 0.0, NAN])
    g.add("equal_float_nan", node("Equal", ["A", "B"], ["Y"]), {"A": cmp_a, "B": cmp_b}, {"Y": BOOL})
    g.add(
        "equal_int64",
        node("Equal", ["A", "B"], ["Y"]),
        {"A": i64([[1, 2], [3, 4]]), "B": i64([[1], [4]])},
        {"Y": BOOL},
    )
    g.add(
        "equal_string",
        node("Equal", ["A", "B"], ["Y"]),
        {"A": s(["a", "b", ""]), "B": s(["a", "B", ""])},
        {"Y": BOOL},
        opset=19,
        note="string Equal needs opset 19",
    )
    g.add("less", node("Less", ["A", "B"], ["Y"]), {"A": cmp_a, "B": cmp_b}, {"Y": BOOL})
    g.add("greater", node("Greater", ["A", "B"], ["Y"]), {"A": cmp_a, "B": cmp_b}, {"Y": BOOL})
    g.add("less_or_equal", node("LessOrEqual", ["A", "B"], ["Y"]), {"A": cmp_a, "B": cmp_b}, {"Y": BOOL})
    g.add(
        "greater_or_equal",
        node("GreaterOrEqual", ["A", "B"], ["Y"]),
        {"A": cmp_a, "B": cmp_b},
        {"Y": BOOL},
    )
    g.add(
        "greater_int64",
        node("Greater", ["A", "B"], ["Y"]),
        {"A": i64([1, 5, -3]), "B": i64(2)},
        {"Y": BOOL},
    )
    g.add("not", node("Not", ["X"], ["Y"]), {"X": b([[True, False], [False, False]])}, {"Y": BOOL})
    g.add(
        "and_or_xor",
        [
            node("And", ["A", "B"], ["AND"]),
            node("Or", ["A", "B"], ["OR"]),
            node("Xor", ["A", "B"], ["XOR"]),
        ],
        {"A": b([True, True, False, False]), "B": b([True, False, True, False])},
        {"AND": BOOL, "OR": BOOL, "XOR": BOOL},
    )

    # Clip (opset 13+: min and max are optional inputs)
    cx = f32([-5.0, -1.0, 0.0, 0.5, 2.0, 10.0, INF, -INF, NAN])
    g.add(
        "clip_min_only",
        node("Clip", ["X", "min"], ["Y"]),
        {"X": cx},
        {"Y": FLOAT},
        inits={"min": f32(0.0)},
    )
    g.add(
        "clip_max_only",
        node("Clip", ["X", "", "max"], ["Y"]),
        {"X": cx},
        {"Y": FLOAT},
        inits={"max": f32(1.0)},
    )
    g.add(
        "clip_min_max",
        node("Clip", ["X", "min", "max"], ["Y"]),
        {"X": cx},
        {"Y": FLOAT},
        inits={"min": f32(-1.0), "max": f32(1.0)},
    )
    g.add("clip_no_bounds", node("Clip", ["X"], ["Y"]), {"X": cx}, {"Y": FLOAT})
    g.add(
        "clip_runtime_bounds",
        node("Clip", ["X", "min", "max"], ["Y"]),
        {"X": cx, "min": f32(-2.0), "max": f32(3.0)},
        {"Y": FLOAT},
    )

    # Shape
    g.add("shape", node("Shape", ["X"], ["Y"]), {"X": x234}, {"Y": INT64})
    g.add("shape_start1", node("Shape", ["X"], ["Y"], start=1), {"X": x234}, {"Y": INT64})
    g.add("shape_end_m1", node("Shape", ["X"], ["Y"], end=-1), {"X": x234}, {"Y": INT64})
    g.add(
        "shape_start_m2_end3",
        node("Shape", ["X"], ["Y"], start=-2, end=3),
        {"X": x234},
        {"Y": INT64},
    )
    g.add(
        "shape_out_of_range_clamped",
        node("Shape", ["X"], ["Y"], start=-10, end=10),
        {"X": x234},
        {"Y": INT64},
    )

    # Constant / ConstantOfShape
    g.add(
        "constant_value_floats",
        node("Constant", [], ["Y"], value_floats=[1.5, -2.0, 0.25]),
        {},
        {"Y": FLOAT},
    )
    g.add("constant_value_float", node("Constant", [], ["Y"], value_float=3.5), {}, {"Y": FLOAT})
    g.add("constant_value_ints", node("Constant", [], ["Y"], value_ints=[3, -1, 7]), {}, {"Y": INT64})
    g.add(
        "constant_value_tensor",
        node(
            "Constant",
            [],
            ["Y"],
            value=helper.make_tensor("v", FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0]),
        ),
        {},
        {"Y": FLOAT},
    )
    g.add(
        "constant_value_strings",
        node("Constant", [], ["Y"], value_strings=["a", "bc"]),
        {},
        {"Y": STRING},
    )
    g.add(
        "constantofshape_float",
        node(
            "ConstantOfShape",
            ["S"],
            ["Y"],
            value=helper.make_tensor("v", FLOAT, [1], [1.5]),
        ),
        {"S": i64([2, 3])},
        {"Y": FLOAT},
    )
    g.add(
        "constantofshape_default_zero",
        node("ConstantOfShape", ["S"], ["Y"]),
        {"S": i64([3])},
        {"Y": FLOAT},
    )
    g.add(
        "constantofshape_int64",
        node(
            "ConstantOfShape",
            ["S"],
            ["Y"],
            value=helper.make_tensor("v", INT64, [1], [7]),
        ),
        {"S": i64([1, 2])},
        {"Y": INT64},
    )
    g.add(
        "constantofshape_empty_dim",
        node("ConstantOfShape", ["S"], ["Y"], value=helper.make_tensor("v", FLOAT, [1], [1.0])),
        {"S": i64([2, 0])},
        {"Y": FLOAT},
    )

    # Max / Min
    mA = f32([[1.0, -2.0, 3.0], [4.0, 0.5, -6.0]])
    mB = f32([2.0, -3.0, 1.0])
    mC = f32([0.75])
    g.add("max_3_inputs_bcast", node("Max", ["A", "B", "C"], ["Y"]), {"A": mA, "B": mB, "C": mC}, {"Y": FLOAT})
    g.add("min_3_inputs_bcast", node("Min", ["A", "B", "C"], ["Y"]), {"A": mA, "B": mB, "C": mC}, {"Y": FLOAT})
    g.add(
        "max_nan",
        node("Max", ["A", "B"], ["Y"]),
        {"A": f32([NAN, 1.0, NAN]), "B": f32([1.0, NAN, NAN])},
        {"Y": FLOAT},
    )
    g.add(
        "min_nan",
        node("Min", ["A", "B"], ["Y"]),
        {"A": f32([NAN, 1.0, NAN]), "B": f32([1.0, NAN, NAN])},
        {"Y": FLOAT},
    )
    g.add("max_single_input", node("Max", ["A"], ["Y"]), {"A": mA}, {"Y": FLOAT})
    g.add(
        "min_int64",
        node("Min", ["A", "B"], ["Y"]),
        {"A": i64([[1, 5], [-2, 8]]), "B": i64([3, 3])},
        {"Y": INT64},
    )


# --------------------------------------------------------------------------
# ai.onnx.ml cases


def tree_attrs(trees, is_classifier):
    """Flatten a list of trees into TreeEnsemble attributes.

    Each tree is a list of nodes; a node is either
      ("branch", mode, feature, value, true_id, false_id[, missing_tracks_true])
      ("leaf", [(target_or_class_id, weight), ...])
    and node ids are positions in the list."""
    a = {
        "nodes_treeids": [],
        "nodes_nodeids": [],
        "nodes_featureids": [],
        "nodes_values": [],
        "nodes_modes": [],
        "nodes_truenodeids": [],
        "nodes_falsenodeids": [],
        "nodes_missing_value_tracks_true": [],
    }
    prefix = "class" if is_classifier else "target"
    leaf = {f"{prefix}_treeids": [], f"{prefix}_nodeids": [], f"{prefix}_ids": [], f"{prefix}_weights": []}
    for t, tree in enumerate(trees):
        for n, spec in enumerate(tree):
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(n)
            if spec[0] == "branch":
                _, mode, feat, value, tid, fid, *rest = spec
                a["nodes_modes"].append(mode)
                a["nodes_featureids"].append(feat)
                a["nodes_values"].append(float(value))
                a["nodes_truenodeids"].append(tid)
                a["nodes_falsenodeids"].append(fid)
                a["nodes_missing_value_tracks_true"].append(int(rest[0]) if rest else 0)
            else:
                a["nodes_modes"].append("LEAF")
                a["nodes_featureids"].append(0)
                a["nodes_values"].append(0.0)
                a["nodes_truenodeids"].append(0)
                a["nodes_falsenodeids"].append(0)
                a["nodes_missing_value_tracks_true"].append(0)
                for target, weight in spec[1]:
                    leaf[f"{prefix}_treeids"].append(t)
                    leaf[f"{prefix}_nodeids"].append(n)
                    leaf[f"{prefix}_ids"].append(target)
                    leaf[f"{prefix}_weights"].append(float(weight))
    a.update(leaf)
    return a


def ml_cases(g):
    # ArrayFeatureExtractor
    g.add(
        "arrayfeatureextractor_2d",
        ml("ArrayFeatureExtractor", ["X", "I"], ["Y"]),
        {"X": f32([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]), "I": i64([3, 0, 3])},
        {"Y": FLOAT},
    )
    g.add(
        "arrayfeatureextractor_1d",
        ml("ArrayFeatureExtractor", ["X", "I"], ["Y"]),
        {"X": f32([10.0, 20.0, 30.0, 40.0]), "I": i64([1, 3])},
        {"Y": FLOAT},
    )
    g.add(
        "arrayfeatureextractor_3d",
        ml("ArrayFeatureExtractor", ["X", "I"], ["Y"]),
        {"X": f32(np.arange(12).reshape(2, 2, 3)), "I": i64([2])},
        {"Y": FLOAT},
    )
    g.add(
        "arrayfeatureextractor_string",
        ml("ArrayFeatureExtractor", ["X", "I"], ["Y"]),
        {"X": s([["a", "b", "c"], ["d", "e", "f"]]), "I": i64([1])},
        {"Y": STRING},
    )
    g.add(
        "arrayfeatureextractor_int64",
        ml("ArrayFeatureExtractor", ["X", "I"], ["Y"]),
        {"X": i64([[1, 2, 3], [4, 5, 6]]), "I": i64([2, 1])},
        {"Y": INT64},
    )

    # Binarizer
    g.add(
        "binarizer",
        ml("Binarizer", ["X"], ["Y"], threshold=0.5),
        {"X": f32([[0.4, 0.5, 0.6], [-1.0, INF, -INF]])},
        {"Y": FLOAT},
    )
    g.add(
        "binarizer_nan",
        ml("Binarizer", ["X"], ["Y"], threshold=0.5),
        {"X": f32([[0.4, NAN]])},
        {"Y": FLOAT},
        note="onnxruntime rejects NaN input here",
    )
    g.add(
        "binarizer_default_threshold",
        ml("Binarizer", ["X"], ["Y"]),
        {"X": f32([[0.0, -0.0, 1e-30, -1.0]])},
        {"Y": FLOAT},
    )

    # CategoryMapper
    cats = dict(cats_strings=["a", "b", "c"], cats_int64s=[1, 2, 3])
    g.add(
        "categorymapper_string_to_int",
        ml("CategoryMapper", ["X"], ["Y"], default_int64=-1, **cats),
        {"X": s([["b", "z"], ["a", ""]])},
        {"Y": INT64},
    )
    g.add(
        "categorymapper_int_to_string",
        ml("CategoryMapper", ["X"], ["Y"], default_string="UNK", **cats),
        {"X": i64([[3, 7], [1, -1]])},
        {"Y": STRING},
    )
    g.add(
        "categorymapper_defaults_unset",
        [
            ml("CategoryMapper", ["S"], ["SI"], **cats),
            ml("CategoryMapper", ["I"], ["IS"], **cats),
        ],
        {"S": s(["c", "q"]), "I": i64([2, 9])},
        {"SI": INT64, "IS": STRING},
        note="default_int64 defaults to -1 and default_string to '_Unused'",
    )

    # FeatureVectorizer
    g.add(
        "featurevectorizer_padding",
        ml("FeatureVectorizer", ["A", "B"], ["Y"], inputdimensions=[3, 1]),
        {"A": f32([[1.0, 2.0], [3.0, 4.0]]), "B": f32([[5.0], [6.0]])},
        {"Y": FLOAT},
        note="A has 2 columns but inputdimensions says 3: padded with zeros",
    )
    g.add(
        "featurevectorizer_exact",
        ml("FeatureVectorizer", ["A", "B", "C"], ["Y"], inputdimensions=[1, 2, 1]),
        {"A": f32([[1.0], [2.0]]), "B": f32([[3.0, 4.0], [5.0, 6.0]]), "C": f32([[7.0], [8.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "featurevectorizer_truncate",
        ml("FeatureVectorizer", ["A", "B"], ["Y"], inputdimensions=[2, 1]),
        {"A": f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), "B": f32([[7.0], [8.0]])},
        {"Y": FLOAT},
        note="A has 3 columns but inputdimensions says 2",
    )
    g.add(
        "featurevectorizer_int64",
        ml("FeatureVectorizer", ["A", "B"], ["Y"], inputdimensions=[2, 1]),
        {"A": i64([[1, 2], [3, 4]]), "B": i64([[5], [6]])},
        {"Y": FLOAT},
    )

    # Imputer
    g.add(
        "imputer_float_nan",
        ml(
            "Imputer",
            ["X"],
            ["Y"],
            imputed_value_floats=[10.0, 20.0, 30.0],
            replaced_value_float=NAN,
        ),
        {"X": f32([[1.0, NAN, 3.0], [NAN, NAN, -0.5], [0.0, 2.0, INF]])},
        {"Y": FLOAT},
    )
    g.add(
        "imputer_float_single_value",
        ml("Imputer", ["X"], ["Y"], imputed_value_floats=[-1.0], replaced_value_float=NAN),
        {"X": f32([[1.0, NAN, 3.0], [NAN, 5.0, NAN]])},
        {"Y": FLOAT},
    )
    g.add(
        "imputer_float_replace_zero",
        ml("Imputer", ["X"], ["Y"], imputed_value_floats=[7.0, 8.0], replaced_value_float=0.0),
        {"X": f32([[0.0, 1.0], [2.0, -0.0], [NAN, 0.0]])},
        {"Y": FLOAT},
    )
    g.add(
        "imputer_int64",
        ml("Imputer", ["X"], ["Y"], imputed_value_int64s=[100, 200], replaced_value_int64=-1),
        {"X": i64([[-1, 5], [3, -1], [-1, -1]])},
        {"Y": INT64},
    )

    # LabelEncoder
    g.add(
        "labelencoder_string_to_int64",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_strings=["cat", "dog", "fish"],
            values_int64s=[0, 1, 2],
            default_int64=-7,
        ),
        {"X": s([["dog", "cow"], ["fish", ""]])},
        {"Y": INT64},
    )
    g.add(
        "labelencoder_int64_to_string",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_int64s=[0, 1, 2],
            values_strings=["cat", "dog", "fish"],
            default_string="unknown",
        ),
        {"X": i64([2, 0, 5, -1])},
        {"Y": STRING},
    )
    g.add(
        "labelencoder_float_to_float",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_floats=[0.5, 1.0, -2.0],
            values_floats=[10.0, 20.0, 30.0],
            default_float=-1.0,
        ),
        {"X": f32([1.0, 0.5, 3.0, -2.0, NAN])},
        {"Y": FLOAT},
    )
    g.add(
        "labelencoder_float_to_int64",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_floats=[0.0, 1.5],
            values_int64s=[4, 5],
        ),
        {"X": f32([1.5, 0.0, 2.0])},
        {"Y": INT64},
        note="default_int64 defaults to -1",
    )
    g.add(
        "labelencoder_string_to_string",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_strings=["a", "b"],
            values_strings=["x", "y"],
        ),
        {"X": s(["b", "a", "c"])},
        {"Y": STRING},
        note="default_string defaults to '_Unused'",
    )
    g.add(
        "labelencoder_int64_to_float",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_int64s=[1, 2],
            values_floats=[0.25, 0.75],
            default_float=NAN,
        ),
        {"X": i64([2, 3, 1])},
        {"Y": FLOAT},
    )
    g.add(
        "labelencoder_float_nan_key_opset4",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_floats=[NAN, 1.5],
            values_int64s=[9, 5],
            default_int64=-1,
        ),
        {"X": f32([NAN, 1.5, 2.0])},
        {"Y": INT64},
        ml=4,
        note="ai.onnx.ml opset 4: a NaN key matches NaN inputs",
    )
    g.add(
        "labelencoder_tensor_attrs_opset4",
        ml(
            "LabelEncoder",
            ["X"],
            ["Y"],
            keys_tensor=helper.make_tensor("k", INT64, [3], [10, 20, 30]),
            values_tensor=helper.make_tensor("v", DOUBLE, [3], [0.5, 1.5, 2.5]),
            default_tensor=helper.make_tensor("d", DOUBLE, [1], [-9.0]),
        ),
        {"X": i64([30, 10, 11])},
        {"Y": DOUBLE},
        ml=4,
    )

    # LinearClassifier
    x4 = f32([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0], [3.0, -2.0]])
    coef3 = [0.5, -1.0, 1.5, 0.25, -0.75, 0.5]
    g.add(
        "linearclassifier_multiclass_softmax",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=coef3,
            intercepts=[0.1, -0.2, 0.3],
            classlabels_ints=[0, 1, 2],
            post_transform="SOFTMAX",
        ),
        {"X": x4},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_multiclass_none",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=coef3,
            intercepts=[0.1, -0.2, 0.3],
            classlabels_ints=[4, 5, 6],
        ),
        {"X": x4},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_binary_one_row_none",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=[1.0, -0.5],
            intercepts=[-0.25],
            classlabels_ints=[0, 1],
            post_transform="NONE",
        ),
        {"X": x4},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_binary_one_row_logistic",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=[1.0, -0.5],
            intercepts=[-0.25],
            classlabels_ints=[0, 1],
            post_transform="LOGISTIC",
        ),
        {"X": x4},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_string_labels",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=coef3,
            intercepts=[0.0, 0.0, 0.0],
            classlabels_strings=["red", "green", "blue"],
            post_transform="SOFTMAX",
        ),
        {"X": x4},
        {"label": STRING, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_binary_string_labels_logistic",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=[1.0, -0.5],
            intercepts=[-0.25],
            classlabels_strings=["no", "yes"],
            post_transform="LOGISTIC",
        ),
        {"X": x4},
        {"label": STRING, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_multiclass_logistic",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=coef3,
            intercepts=[0.1, -0.2, 0.3],
            classlabels_ints=[0, 1, 2],
            post_transform="LOGISTIC",
        ),
        {"X": x4},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "linearclassifier_two_rows_binary",
        ml(
            "LinearClassifier",
            ["X"],
            ["label", "scores"],
            coefficients=[1.0, -0.5, -1.0, 0.5],
            intercepts=[-0.25, 0.25],
            classlabels_ints=[0, 1],
            post_transform="SOFTMAX",
        ),
        {"X": x4},
        {"label": INT64, "scores": FLOAT},
    )

    # LinearRegressor
    g.add(
        "linearregressor_two_targets",
        ml(
            "LinearRegressor",
            ["X"],
            ["Y"],
            coefficients=[1.0, 2.0, -0.5, 0.25],
            intercepts=[0.5, -1.0],
            targets=2,
        ),
        {"X": x4},
        {"Y": FLOAT},
    )
    g.add(
        "linearregressor_one_target",
        ml("LinearRegressor", ["X"], ["Y"], coefficients=[0.3, -0.7], intercepts=[2.0]),
        {"X": x4},
        {"Y": FLOAT},
    )
    g.add(
        "linearregressor_no_intercept",
        ml("LinearRegressor", ["X"], ["Y"], coefficients=[0.3, -0.7]),
        {"X": x4},
        {"Y": FLOAT},
    )

    # Normalizer
    nx = f32([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, -4.0, -2.0]])
    for norm in ("MAX", "L1", "L2"):
        g.add(
            f"normalizer_{norm.lower()}",
            ml("Normalizer", ["X"], ["Y"], norm=norm),
            {"X": nx},
            {"Y": FLOAT},
        )

    # OneHotEncoder
    g.add(
        "onehotencoder_int64_unknown_zeros",
        ml("OneHotEncoder", ["X"], ["Y"], cats_int64s=[2, 3, 5], zeros=1),
        {"X": i64([[5], [2], [7]])},
        {"Y": FLOAT},
    )
    g.add(
        "onehotencoder_int64_1d",
        ml("OneHotEncoder", ["X"], ["Y"], cats_int64s=[2, 3, 5], zeros=1),
        {"X": i64([3, 2, 4])},
        {"Y": FLOAT},
    )
    g.add(
        "onehotencoder_string_unknown_zeros",
        ml("OneHotEncoder", ["X"], ["Y"], cats_strings=["red", "green", "blue"], zeros=1),
        {"X": s([["green"], ["purple"], [""], ["red"]])},
        {"Y": FLOAT},
    )
    g.add(
        "onehotencoder_string_2cols",
        ml("OneHotEncoder", ["X"], ["Y"], cats_strings=["a", "b"], zeros=1),
        {"X": s([["a", "b"], ["b", "c"]])},
        {"Y": FLOAT},
    )
    g.add(
        "onehotencoder_float_input",
        ml("OneHotEncoder", ["X"], ["Y"], cats_int64s=[0, 1, 2], zeros=1),
        {"X": f32([[1.0], [2.0], [1.5]])},
        {"Y": FLOAT},
    )

    # Scaler
    g.add(
        "scaler",
        ml("Scaler", ["X"], ["Y"], offset=[1.0, 2.0], scale=[0.5, -2.0]),
        {"X": x4},
        {"Y": FLOAT},
    )
    g.add(
        "scaler_single_values",
        ml("Scaler", ["X"], ["Y"], offset=[1.0], scale=[3.0]),
        {"X": x4},
        {"Y": FLOAT},
    )
    g.add(
        "scaler_int64_input",
        ml("Scaler", ["X"], ["Y"], offset=[1.0, 0.5], scale=[2.0, 4.0]),
        {"X": i64([[1, 2], [3, 4]])},
        {"Y": FLOAT},
    )
    g.add(
        "scaler_double_input",
        ml("Scaler", ["X"], ["Y"], offset=[0.1], scale=[10.0]),
        {"X": f64([[1.0, 0.1], [NAN, 2.0]])},
        {"Y": FLOAT},
    )

    # SVMClassifier
    rng = np.random.RandomState(SEED)
    sv5 = [0.0, 0.0, 0.5, 0.2, 2.0, 2.0, 2.5, 1.8, 0.0, 3.0]
    svx = f32([[0.1, 0.1], [2.2, 1.9], [0.2, 2.5], [1.0, 1.0], [5.0, -3.0]])
    coef_ovo = [round(float(v), 3) for v in rng.uniform(-1, 1, size=10)]
    g.add(
        "svmclassifier_rbf_proba",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1, 2],
            vectors_per_class=[2, 2, 1],
            support_vectors=sv5,
            coefficients=coef_ovo,
            rho=[0.1, -0.2, 0.05],
            kernel_type="RBF",
            kernel_params=[0.5, 0.0, 3.0],
            prob_a=[-2.0, -1.5, -1.8],
            prob_b=[0.1, -0.05, 0.0],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "svmclassifier_rbf_no_proba",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1, 2],
            vectors_per_class=[2, 2, 1],
            support_vectors=sv5,
            coefficients=coef_ovo,
            rho=[0.1, -0.2, 0.05],
            kernel_type="RBF",
            kernel_params=[0.5, 0.0, 3.0],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
        note="three classes, one-vs-one votes",
    )
    g.add(
        "svmclassifier_binary_rbf_proba",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1],
            vectors_per_class=[2, 2],
            support_vectors=sv5[:8],
            coefficients=[0.8, 0.4, -0.7, -0.5],
            rho=[0.15],
            kernel_type="RBF",
            kernel_params=[0.5, 0.0, 3.0],
            prob_a=[-2.5],
            prob_b=[0.2],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "svmclassifier_linear_binary",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1],
            vectors_per_class=[2, 1],
            support_vectors=[0.0, 0.0, 0.5, 0.2, 2.0, 2.0],
            coefficients=[0.6, 0.4, -1.0],
            rho=[0.3],
            kernel_type="LINEAR",
            kernel_params=[0.0, 0.0, 0.0],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "svmclassifier_linear_without_kernel_params",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1],
            vectors_per_class=[2, 1],
            support_vectors=[0.0, 0.0, 0.5, 0.2, 2.0, 2.0],
            coefficients=[0.6, 0.4, -1.0],
            rho=[0.3],
            kernel_type="LINEAR",
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
        note="kernel_params is optional in the spec; onnxruntime requires it",
    )
    g.add(
        "svmclassifier_linear_string_labels",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_strings=["neg", "pos"],
            vectors_per_class=[2, 1],
            support_vectors=[0.0, 0.0, 0.5, 0.2, 2.0, 2.0],
            coefficients=[0.6, 0.4, -1.0],
            rho=[0.3],
            kernel_type="LINEAR",
            kernel_params=[0.0, 0.0, 0.0],
        ),
        {"X": svx},
        {"label": STRING, "scores": FLOAT},
    )
    g.add(
        "svmclassifier_poly_multiclass",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1, 2],
            vectors_per_class=[2, 2, 1],
            support_vectors=sv5,
            coefficients=coef_ovo,
            rho=[0.1, -0.2, 0.05],
            kernel_type="POLY",
            kernel_params=[0.5, 1.0, 2.0],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "svmclassifier_sigmoid_binary",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1],
            vectors_per_class=[2, 1],
            support_vectors=[0.0, 0.0, 0.5, 0.2, 2.0, 2.0],
            coefficients=[0.6, 0.4, -1.0],
            rho=[0.3],
            kernel_type="SIGMOID",
            kernel_params=[0.2, -0.5, 0.0],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "svmclassifier_no_support_vectors",
        ml(
            "SVMClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_ints=[0, 1, 2],
            coefficients=[1.0, -1.0, -0.5, 0.5, 0.25, 0.75],
            rho=[0.0, 0.1, -0.1],
            kernel_type="LINEAR",
            kernel_params=[0.0, 0.0, 0.0],
        ),
        {"X": svx},
        {"label": INT64, "scores": FLOAT},
        note="no vectors_per_class: one weight row per class (linear SVM)",
    )

    # SVMRegressor
    g.add(
        "svmregressor_rbf",
        ml(
            "SVMRegressor",
            ["X"],
            ["Y"],
            n_supports=3,
            support_vectors=[0.0, 0.0, 1.0, 2.0, -1.0, 0.5],
            coefficients=[0.5, -1.2, 0.8],
            rho=[0.3],
            kernel_type="RBF",
            kernel_params=[0.5, 0.0, 3.0],
        ),
        {"X": svx},
        {"Y": FLOAT},
    )
    g.add(
        "svmregressor_one_class",
        ml(
            "SVMRegressor",
            ["X"],
            ["Y"],
            n_supports=3,
            support_vectors=[0.0, 0.0, 1.0, 2.0, -1.0, 0.5],
            coefficients=[0.5, 0.3, 0.2],
            rho=[-0.3],
            kernel_type="RBF",
            kernel_params=[0.5, 0.0, 3.0],
            one_class=1,
        ),
        {"X": svx},
        {"Y": FLOAT},
        note="one_class=1: output is +1/-1",
    )
    g.add(
        "svmregressor_poly",
        ml(
            "SVMRegressor",
            ["X"],
            ["Y"],
            n_supports=3,
            support_vectors=[0.0, 0.0, 1.0, 2.0, -1.0, 0.5],
            coefficients=[0.5, -1.2, 0.8],
            rho=[0.3],
            kernel_type="POLY",
            kernel_params=[0.5, 1.0, 3.0],
        ),
        {"X": svx},
        {"Y": FLOAT},
    )
    g.add(
        "svmregressor_linear_no_support_vectors",
        ml(
            "SVMRegressor",
            ["X"],
            ["Y"],
            n_supports=0,
            coefficients=[0.5, -1.2],
            rho=[0.3],
            kernel_type="LINEAR",
            kernel_params=[0.0, 0.0, 0.0],
        ),
        {"X": svx},
        {"Y": FLOAT},
    )

    # TreeEnsembleClassifier
    tx = f32([[0.2, 3.0], [0.7, 0.5], [0.5, 1.0], [-1.0, 2.0], [1.0, 1.0]])
    multiclass_trees = [
        [
            ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
            ("leaf", [(0, 1.0), (1, 0.2), (2, -0.5)]),
            ("branch", "BRANCH_LEQ", 1, 1.0, 3, 4),
            ("leaf", [(0, -0.3), (1, 0.9), (2, 0.1)]),
            ("leaf", [(0, 0.0), (1, -0.4), (2, 1.2)]),
        ],
        [
            ("branch", "BRANCH_LT", 1, 2.0, 1, 2),
            ("leaf", [(0, 0.25), (1, 0.5), (2, 0.0)]),
            ("leaf", [(0, -0.5), (1, 0.0), (2, 0.75)]),
        ],
    ]
    g.add(
        "treeclassifier_multiclass_softmax_base",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_int64s=[0, 1, 2],
            base_values=[0.1, -0.2, 0.3],
            post_transform="SOFTMAX",
            **tree_attrs(multiclass_trees, True),
        ),
        {"X": tx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "treeclassifier_multiclass_none",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_strings=["a", "b", "c"],
            **tree_attrs(multiclass_trees, True),
        ),
        {"X": tx},
        {"label": STRING, "scores": FLOAT},
    )
    binary_trees = [
        [
            ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
            ("leaf", [(0, -1.5)]),
            ("leaf", [(0, 2.0)]),
        ],
        [
            ("branch", "BRANCH_LEQ", 1, 1.5, 1, 2),
            ("leaf", [(0, 0.5)]),
            ("leaf", [(0, -0.25)]),
        ],
    ]
    g.add(
        "treeclassifier_binary_logistic",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_int64s=[0, 1],
            base_values=[0.2],
            post_transform="LOGISTIC",
            **tree_attrs(binary_trees, True),
        ),
        {"X": tx},
        {"label": INT64, "scores": FLOAT},
        note="one class_id (0) with two class labels: the binary special case",
    )
    g.add(
        "treeclassifier_binary_none",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_int64s=[0, 1],
            **tree_attrs(binary_trees, True),
        ),
        {"X": tx},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "treeclassifier_binary_rf_probabilities",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_int64s=[0, 1],
            **tree_attrs(
                [
                    [
                        ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
                        ("leaf", [(0, 0.4), (1, 0.1)]),
                        ("leaf", [(0, 0.05), (1, 0.45)]),
                    ],
                    [
                        ("branch", "BRANCH_LEQ", 1, 1.5, 1, 2),
                        ("leaf", [(0, 0.5), (1, 0.0)]),
                        ("leaf", [(0, 0.2), (1, 0.3)]),
                    ],
                ],
                True,
            ),
        ),
        {"X": tx},
        {"label": INT64, "scores": FLOAT},
        note="weights for both classes (as random forests are exported)",
    )
    # Every branch mode in one tree; inputs sit exactly on the thresholds.
    mixed = [
        [
            ("branch", "BRANCH_LT", 0, 1.0, 1, 2),  # 0
            ("branch", "BRANCH_GTE", 1, 2.0, 3, 4),  # 1
            ("branch", "BRANCH_GT", 1, 2.0, 5, 6),  # 2
            ("branch", "BRANCH_EQ", 0, 0.0, 7, 8),  # 3
            ("branch", "BRANCH_NEQ", 0, 0.5, 9, 10),  # 4
            ("leaf", [(0, 1.0)]),  # 5
            ("branch", "BRANCH_LEQ", 1, 1.0, 11, 12),  # 6
            ("leaf", [(1, 1.0)]),  # 7
            ("leaf", [(2, 1.0)]),  # 8
            ("leaf", [(3, 1.0)]),  # 9
            ("leaf", [(4, 1.0)]),  # 10
            ("leaf", [(5, 1.0)]),  # 11
            ("leaf", [(6, 1.0)]),  # 12
        ]
    ]
    mixed_x = f32(
        [
            [0.0, 2.0],  # 0 -> 1 (x0<1) -> 3 (x1>=2) -> 7 (x0==0)
            [0.5, 2.0],  # -> 1 -> 3 -> 8
            [0.5, 1.5],  # -> 1 -> 4 (x1<2) -> 10 (x0==0.5)
            [0.25, 1.5],  # -> 1 -> 4 -> 9
            [1.0, 2.0],  # 0 false (1<1 false) -> 2 (x1>2 false) -> 6 -> 12
            [1.0, 2.5],  # -> 2 -> 5
            [3.0, 1.0],  # -> 2 -> 6 (x1<=1) -> 11
        ]
    )
    g.add(
        "treeclassifier_mixed_modes",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_int64s=[10, 11, 12, 13, 14, 15, 16],
            **tree_attrs(mixed, True),
        ),
        {"X": mixed_x},
        {"label": INT64, "scores": FLOAT},
        note="each leaf votes for its own class; inputs sit on thresholds",
    )
    g.add(
        "treeregressor_mixed_modes",
        ml(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            n_targets=1,
            **tree_attrs(
                [[spec if spec[0] == "branch" else ("leaf", [(0, float(i))]) for i, spec in enumerate(mixed[0])]],
                False,
            ),
        ),
        {"X": mixed_x},
        {"Y": FLOAT},
        note="leaf value = leaf node id",
    )
    missing_trees = [
        [
            ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2, 1),  # NaN in x0 goes to the true branch
            ("branch", "BRANCH_LEQ", 1, 1.0, 3, 4, 0),  # NaN in x1 goes to the false branch
            ("leaf", [(0, 0.9), (1, 0.1)]),
            ("leaf", [(0, 0.2), (1, 0.8)]),
            ("leaf", [(0, 0.6), (1, 0.4)]),
        ]
    ]
    missing_x = f32([[NAN, 0.0], [NAN, NAN], [0.0, NAN], [1.0, NAN], [0.0, 2.0], [0.0, 1.0]])
    g.add(
        "treeclassifier_missing_tracks_true",
        ml(
            "TreeEnsembleClassifier",
            ["X"],
            ["label", "scores"],
            classlabels_int64s=[0, 1],
            **tree_attrs(missing_trees, True),
        ),
        {"X": missing_x},
        {"label": INT64, "scores": FLOAT},
    )
    g.add(
        "treeregressor_missing_tracks_true",
        ml(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            n_targets=1,
            **tree_attrs(
                [
                    [
                        ("branch", "BRANCH_LT", 0, 0.5, 1, 2, 1),
                        ("branch", "BRANCH_GTE", 1, 1.0, 3, 4, 1),
                        ("leaf", [(0, 3.0)]),
                        ("leaf", [(0, 1.0)]),
                        ("leaf", [(0, 2.0)]),
                    ]
                ],
                False,
            ),
        ),
        {"X": missing_x},
        {"Y": FLOAT},
    )

    # TreeEnsembleRegressor
    reg_trees = [
        [
            ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
            ("leaf", [(0, 1.0)]),
            ("branch", "BRANCH_LEQ", 1, 1.0, 3, 4),
            ("leaf", [(0, -2.0)]),
            ("leaf", [(0, 4.0)]),
        ],
        [
            ("branch", "BRANCH_LT", 1, 2.0, 1, 2),
            ("leaf", [(0, 0.5)]),
            ("leaf", [(0, 3.0)]),
        ],
        [
            ("branch", "BRANCH_GT", 0, 0.0, 1, 2),
            ("leaf", [(0, -1.0)]),
            ("leaf", [(0, 2.5)]),
        ],
    ]
    for agg, base in (("SUM", [0.5]), ("AVERAGE", [0.25]), ("MIN", None), ("MAX", None), ("MIN", [10.0])):
        extra = {} if base is None else {"base_values": base}
        suffix = "_base" if base is not None else ""
        g.add(
            f"treeregressor_{agg.lower()}{suffix}",
            ml(
                "TreeEnsembleRegressor",
                ["X"],
                ["Y"],
                n_targets=1,
                aggregate_function=agg,
                **extra,
                **tree_attrs(reg_trees, False),
            ),
            {"X": tx},
            {"Y": FLOAT},
        )
    g.add(
        "treeregressor_probit",
        ml(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            n_targets=1,
            post_transform="PROBIT",
            **tree_attrs(
                [[
                    ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
                    ("leaf", [(0, 0.1)]),
                    ("leaf", [(0, 0.8)]),
                ]],
                False,
            ),
        ),
        {"X": tx},
        {"Y": FLOAT},
        note="PROBIT expects leaf sums in (0, 1)",
    )
    g.add(
        "treeregressor_two_targets",
        ml(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            n_targets=2,
            base_values=[1.0, -1.0],
            **tree_attrs(
                [
                    [
                        ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
                        ("leaf", [(0, 1.0), (1, 2.0)]),
                        ("leaf", [(1, -3.0)]),
                    ],
                    [
                        ("branch", "BRANCH_LEQ", 1, 1.5, 1, 2),
                        ("leaf", [(0, 0.5)]),
                        ("leaf", [(0, -0.5), (1, 0.25)]),
                    ],
                ],
                False,
            ),
        ),
        {"X": tx},
        {"Y": FLOAT},
    )
    g.add(
        "treeregressor_two_targets_average",
        ml(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            n_targets=2,
            aggregate_function="AVERAGE",
            **tree_attrs(
                [
                    [
                        ("branch", "BRANCH_LEQ", 0, 0.5, 1, 2),
                        ("leaf", [(0, 1.0), (1, 2.0)]),
                        ("leaf", [(0, 3.0), (1, -3.0)]),
                    ],
                    [
                        ("branch", "BRANCH_LEQ", 1, 1.5, 1, 2),
                        ("leaf", [(0, 0.5), (1, 1.0)]),
                        ("leaf", [(0, -0.5), (1, 0.25)]),
                    ],
                ],
                False,
            ),
        ),
        {"X": tx},
        {"Y": FLOAT},
    )
    g.add(
        "treeregressor_double_input",
        ml(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            n_targets=1,
            **tree_attrs(reg_trees, False),
        ),
        {"X": f64([[0.5, 1.0], [0.50000001, 1.0], [-3.0, 5.0]])},
        {"Y": FLOAT},
        note="double input; thresholds are float attributes",
    )

    # ZipMap
    probs = f32([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    g.add(
        "zipmap_int64",
        ml("ZipMap", ["X"], ["Y"], classlabels_int64s=[0, 1, 2]),
        {"X": probs},
        {"Y": SeqMap(INT64, FLOAT)},
    )
    g.add(
        "zipmap_string",
        ml("ZipMap", ["X"], ["Y"], classlabels_strings=["a", "b", "c"]),
        {"X": probs},
        {"Y": SeqMap(STRING, FLOAT)},
    )

    # DictVectorizer and CastMap take a single map. Only map(string,float)
    # and map(int64,float) are fed: onnxruntime's Python binding turns a dict
    # of Python numbers into one of those two and cannot feed
    # map(string,double), map(string,int64) or map(int64,string).
    g.add(
        "dictvectorizer_string_keys",
        ml("DictVectorizer", ["X"], ["Y"], string_vocabulary=["a", "b", "c", "d"]),
        {"X": MapValue(STRING, FLOAT, {"c": 3.0, "a": 1.5, "z": 9.0})},
        {"Y": FLOAT},
        note="keys not in the vocabulary are ignored",
    )
    g.add(
        "dictvectorizer_int64_keys",
        ml("DictVectorizer", ["X"], ["Y"], int64_vocabulary=[1, 5, 10]),
        {"X": MapValue(INT64, FLOAT, {10: -2.0, 1: 0.5, 7: 4.0})},
        {"Y": FLOAT},
    )
    cm = MapValue(INT64, FLOAT, {3: 2.5, 1: -0.5, 4: 7.75})
    g.add(
        "castmap_dense_float",
        ml("CastMap", ["X"], ["Y"], cast_to="TO_FLOAT", map_form="DENSE"),
        {"X": cm},
        {"Y": FLOAT},
    )
    g.add(
        "castmap_sparse_float",
        ml("CastMap", ["X"], ["Y"], cast_to="TO_FLOAT", map_form="SPARSE", max_map=6),
        {"X": cm},
        {"Y": FLOAT},
    )
    g.add(
        "castmap_dense_string",
        ml("CastMap", ["X"], ["Y"], cast_to="TO_STRING"),
        {"X": cm},
        {"Y": STRING},
    )
    g.add(
        "castmap_dense_int64",
        ml("CastMap", ["X"], ["Y"], cast_to="TO_INT64"),
        {"X": cm},
        {"Y": INT64},
    )


# --------------------------------------------------------------------------
# operators that converters emit for common estimators beyond the reference
# pipelines (CalibratedClassifierCV and soft voting: Sum; OneVsRest: Slice
# and LpNormalization; nearest neighbours: TopK and Transpose; missing-value
# indicators: IsNaN), trees that share subtrees, and opset 5's TreeEnsemble.


def coverage_cases(g):
    A = f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g.add(
        "sum_3_inputs_bcast",
        node("Sum", ["A", "B", "C"], ["Y"]),
        {"A": A, "B": f32([0.1, 0.2, 0.3]), "C": f32([[1e-8], [1e8]])},
        {"Y": FLOAT},
    )
    g.add("sum_single_input", node("Sum", ["A"], ["Y"]), {"A": A}, {"Y": FLOAT})
    g.add(
        "sum_double",
        node("Sum", ["A", "B"], ["Y"]),
        {"A": f64([0.1, 0.2]), "B": f64([0.7, NAN])},
        {"Y": DOUBLE},
    )
    g.add("mean_2_inputs", node("Mean", ["A", "B"], ["Y"]), {"A": A, "B": f32([1.0, 0.0, -1.0])}, {"Y": FLOAT})

    T3 = f32(np.arange(24).reshape(2, 3, 4))
    g.add("transpose_default", node("Transpose", ["X"], ["Y"]), {"X": T3}, {"Y": FLOAT})
    g.add("transpose_perm_3d", node("Transpose", ["X"], ["Y"], perm=[1, 0, 2]), {"X": T3}, {"Y": FLOAT})
    g.add("transpose_2d_int64", node("Transpose", ["X"], ["Y"]), {"X": i64([[1, 2, 3], [4, 5, 6]])}, {"Y": INT64})

    M = f32(np.arange(20).reshape(4, 5))
    g.add(
        "slice_axes_steps",
        node("Slice", ["X", "s", "e", "a", "st"], ["Y"]),
        {"X": M},
        {"Y": FLOAT},
        inits={"s": i64([1, 0]), "e": i64([3, 5]), "a": i64([1, 0]), "st": i64([1, 2])},
    )
    g.add(
        "slice_negative_step",
        node("Slice", ["X", "s", "e", "a", "st"], ["Y"]),
        {"X": M},
        {"Y": FLOAT},
        inits={"s": i64([-1]), "e": i64([-1000]), "a": i64([1]), "st": i64([-2])},
    )
    g.add(
        "slice_clamped_no_axes",
        node("Slice", ["X", "s", "e"], ["Y"]),
        {"X": M},
        {"Y": FLOAT},
        inits={"s": i64([-100, 2]), "e": i64([100, -1])},
    )
    g.add(
        "slice_string_column",
        node("Slice", ["X", "s", "e", "a"], ["Y"]),
        {"X": s([["a", "b"], ["c", "d"]])},
        {"Y": STRING},
        inits={"s": i64([1]), "e": i64([2]), "a": i64([1])},
    )

    K = f32([[3.0, 1.0, 3.0, 2.0], [0.5, NAN, -1.0, 0.5]])
    g.add(
        "topk_largest_ties",
        node("TopK", ["X", "k"], ["V", "I"]),
        {"X": K},
        {"V": FLOAT, "I": INT64},
        inits={"k": i64([3])},
    )
    g.add(
        "topk_smallest_axis0",
        node("TopK", ["X", "k"], ["V", "I"], axis=0, largest=0),
        {"X": f32([[3.0, 1.0], [1.0, 1.0], [2.0, 0.0]])},
        {"V": FLOAT, "I": INT64},
        inits={"k": i64([2])},
    )

    special = f32([[NAN, 1.0, INF], [-INF, 0.0, NAN]])
    g.add("isnan", node("IsNaN", ["X"], ["Y"]), {"X": special}, {"Y": BOOL})
    g.add("isnan_double", node("IsNaN", ["X"], ["Y"]), {"X": f64([NAN, 2.0])}, {"Y": BOOL})
    g.add("isinf", node("IsInf", ["X"], ["Y"]), {"X": special}, {"Y": BOOL})
    g.add("isinf_positive_only", node("IsInf", ["X"], ["Y"], detect_negative=0), {"X": special}, {"Y": BOOL})

    L = f32([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    g.add("lpnormalization_l2_default", node("LpNormalization", ["X"], ["Y"]), {"X": L}, {"Y": FLOAT})
    g.add("lpnormalization_l1_axis0", node("LpNormalization", ["X"], ["Y"], axis=0, p=1), {"X": L}, {"Y": FLOAT})

    # A category set written as a chain of BRANCH_EQ nodes whose true
    # branches all point to one shared subtree (node 4), as onnxmltools
    # writes LightGBM's categorical splits.
    shared = [
        ("branch", "BRANCH_EQ", 0, 1.0, 4, 1),
        ("branch", "BRANCH_EQ", 0, 3.0, 4, 2),
        ("branch", "BRANCH_EQ", 0, 7.0, 4, 3),
        ("leaf", [(0, -1.0)]),
        ("branch", "BRANCH_LEQ", 1, 0.5, 5, 6),
        ("leaf", [(0, 10.0)]),
        ("leaf", [(0, 20.0)]),
    ]
    shared_x = f32([[1.0, 0.0], [3.0, 1.0], [7.0, 0.2], [2.0, 0.0], [NAN, 0.0], [7.0, NAN]])
    g.add(
        "treeregressor_shared_subtree",
        ml("TreeEnsembleRegressor", ["X"], ["Y"], n_targets=1, **tree_attrs([shared, shared], False)),
        {"X": shared_x},
        {"Y": FLOAT},
        note="two copies of a tree whose category chain shares its true subtree",
    )

    # Opset 5: interior nodes and leaves apart, modes as bytes, a set
    # membership node, a leaf shared by two parents, two trees, two targets.
    te5 = dict(
        n_targets=2,
        aggregate_function=1,
        post_transform=0,
        tree_roots=[0, 3],
        nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, (5,), [0, 6, 2, 5, 6]),
        nodes_featureids=[0, 1, 0, 1, 0],
        nodes_splits=helper.make_tensor("nodes_splits", FLOAT, (5,), [0.5, NAN, 2.0, 3.0, NAN]),
        nodes_trueleafs=[0, 1, 1, 0, 1],
        nodes_truenodeids=[1, 0, 1, 4, 3],
        nodes_falseleafs=[0, 1, 1, 1, 1],
        nodes_falsenodeids=[2, 2, 0, 4, 2],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 1],
        leaf_targetids=[0, 1, 0, 1, 1],
        leaf_weights=helper.make_tensor("leaf_weights", FLOAT, (5,), [1.0, 10.0, 100.0, 1000.0, 5.0]),
        membership_values=helper.make_tensor(
            "membership_values", FLOAT, (6,), [1.0, 4.0, 9.0, NAN, 2.0, NAN]
        ),
    )
    te5_x = f32(
        [[0.0, 4.0], [0.0, 5.0], [1.0, 3.0], [3.0, 1.0], [NAN, 9.0], [2.0, NAN], [NAN, NAN], [0.4, 1.0]]
    )
    g.add(
        "treeensemble5_member_shared_leaf",
        ml("TreeEnsemble", ["X"], ["Y"], **te5),
        {"X": te5_x},
        {"Y": FLOAT},
        opset=21,
        ml=5,
    )
    g.add(
        "treeensemble5_double_average_softmax",
        ml("TreeEnsemble", ["X"], ["Y"], **dict(te5, aggregate_function=0, post_transform=1, nodes_splits=helper.make_tensor("nodes_splits", DOUBLE, (5,), [0.5, NAN, 2.0, 3.0, NAN]), membership_values=helper.make_tensor("membership_values", DOUBLE, (6,), [1.0, 4.0, 9.0, NAN, 2.0, NAN]), leaf_weights=helper.make_tensor("leaf_weights", DOUBLE, (5,), [1.0, 10.0, 100.0, 1000.0, 5.0]))),
        {"X": te5_x.astype(np.float64)},
        {"Y": DOUBLE},
        opset=21,
        ml=5,
    )
    g.add(
        "treeensemble5_post_transform_2",
        ml("TreeEnsemble", ["X"], ["Y"], **dict(te5, post_transform=2)),
        {"X": te5_x},
        {"Y": FLOAT},
        opset=21,
        ml=5,
        note="onnxruntime reads post_transform 1 as LOGISTIC and 2 as SOFTMAX, against the specification's numbering",
    )


    g.add("sign", node("Sign", ["X"], ["Y"]), {"X": f32([-2.5, 0.0, -0.0, 3.0, NAN])}, {"Y": FLOAT})
    g.add("sign_int64", node("Sign", ["X"], ["Y"]), {"X": i64([-7, 0, 9])}, {"Y": INT64})
    C = f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g.add("cumsum_axis1", node("CumSum", ["X", "a"], ["Y"]), {"X": C}, {"Y": FLOAT}, inits={"a": i64(1)})
    g.add("cumsum_axis0_exclusive_reverse", node("CumSum", ["X", "a"], ["Y"], exclusive=1, reverse=1), {"X": C}, {"Y": FLOAT}, inits={"a": i64(0)})
    g.add("cumsum_int64", node("CumSum", ["X", "a"], ["Y"]), {"X": i64([3, -1, 4])}, {"Y": INT64}, inits={"a": i64(0)})
    g.add(
        "gatherelements_axis1_negative",
        node("GatherElements", ["X", "I"], ["Y"], axis=1),
        {"X": C},
        {"Y": FLOAT},
        inits={"I": i64([[0, -1], [2, 1]])},
    )
    g.add(
        "gatherelements_axis0",
        node("GatherElements", ["X", "I"], ["Y"], axis=0),
        {"X": C},
        {"Y": FLOAT},
        inits={"I": i64([[1, 0, 1]])},
    )
    R = f32([[1.0, -2.0, 3.0], [0.5, 0.0, -4.0]])
    for op in ["ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum"]:
        g.add(f"{op.lower()}_axes1_keepdims0", node(op, ["X"], ["Y"], axes=[1], keepdims=0), {"X": f32(np.abs(R) + 0.25) if op == "ReduceLogSum" else R}, {"Y": FLOAT})
    g.add("reducesumsquare_all", node("ReduceSumSquare", ["X"], ["Y"]), {"X": R}, {"Y": FLOAT})

    # Squared distances from every row of X to every row of a constant,
    # as skl2onnx writes nearest neighbours: a Scan over the constant's
    # rows carrying X as its state, then a Transpose.
    body = helper.make_graph(
        [
            node("Sub", ["state_in", "row"], ["diff"]),
            node("ReduceSumSquare", ["diff"], ["dist"], axes=[1], keepdims=0),
            node("Identity", ["state_in"], ["state_out"]),
        ],
        "cdist_body",
        [
            helper.make_tensor_value_info("state_in", FLOAT, None),
            helper.make_tensor_value_info("row", FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("state_out", FLOAT, None),
            helper.make_tensor_value_info("dist", FLOAT, None),
        ],
    )
    g.add(
        "scan_cdist",
        [
            node("Scan", ["X", "P"], ["Xout", "D"], num_scan_inputs=1, body=body),
            node("Transpose", ["D"], ["Y"], perm=[1, 0]),
        ],
        {"X": f32([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]])},
        {"Y": FLOAT},
        inits={"P": f32([[1.0, 1.0], [0.0, 2.0], [-1.0, 0.5], [2.0, 2.0]])},
        opset=15,
    )
    g.add(
        "scan_reverse_axis1_outputs",
        node(
            "Scan",
            ["S", "X"],
            ["Sout", "Y"],
            num_scan_inputs=1,
            scan_input_axes=[1],
            scan_input_directions=[1],
            scan_output_axes=[1],
            body=helper.make_graph(
                [node("Add", ["s", "x"], ["s2"]), node("Identity", ["s2"], ["y"])],
                "running_sum",
                [helper.make_tensor_value_info("s", FLOAT, None), helper.make_tensor_value_info("x", FLOAT, None)],
                [helper.make_tensor_value_info("s2", FLOAT, None), helper.make_tensor_value_info("y", FLOAT, None)],
            ),
        ),
        {"S": f32([0.0, 0.0]), "X": f32([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])},
        {"Sout": FLOAT, "Y": FLOAT},
        opset=15,
    )


def main():
    for f in os.listdir(OUT_DIR):
        if f.endswith(".onnx"):
            os.remove(os.path.join(OUT_DIR, f))
    g = Generator()
    core_cases(g)
    ml_cases(g)
    coverage_cases(g)
    with open(os.path.join(OUT_DIR, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(g.cases, f, indent=1, allow_nan=False)
        f.write("\n")
    with open(os.path.join(OUT_DIR, "dropped.json"), "w", encoding="utf-8") as f:
        json.dump(g.dropped, f, indent=1)
        f.write("\n")
    print(f"{len(g.cases)} cases written, {len(g.dropped)} dropped", file=sys.stderr)


if __name__ == "__main__":
    main()

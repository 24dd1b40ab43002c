#!/usr/bin/env python3
"""Extract the parameters of a fitted scikit-learn model from its ONNX export.

The example models in this folder do not run ONNX: they are ordinary Rust
written with glassbox-guest's building blocks. Their parameters come from the
skl2onnx export of the real scikit-learn pipelines in
tests/data/sklearn/, read here with the `onnx` package and written as
JSON that deserialises straight into `glassbox_guest::ops` types.

    pip install onnx
    python3 examples/models/extract_params.py tests/data/sklearn/digits_logreg.onnx \
        tests/data/sklearn/digits_logreg.meta.json > examples/models/digits-logreg/params.json

Only the operators these examples need are handled; anything else is an
error naming the node, never a silently wrong file.
"""
import json
import sys

import onnx
from onnx import helper, numpy_helper  # noqa: F401  (numpy_helper kept for readers extending this)


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def fail(node, why):
    sys.exit(f"node {node.name or node.op_type!r} ({node.op_type}): {why}")


def scaler(node):
    a = attrs(node)
    return {"offset": list(a["offset"]), "factor": list(a["scale"])}


def linear_classifier(node, n_features):
    a = attrs(node)
    coef = list(a["coefficients"])
    intercepts = list(a["intercepts"])
    post = text(a.get("post_transform", b"NONE"))
    links = {"SOFTMAX": "multinomial", "LOGISTIC": "one_vs_rest"}
    if post not in links:
        fail(node, f"post_transform {post} is not handled by this example")
    if len(coef) != len(intercepts) * n_features:
        fail(node, f"{len(coef)} coefficients for {len(intercepts)} classes x {n_features} features")
    classes = [str(c) for c in a.get("classlabels_ints", [])] or [text(c) for c in a["classlabels_strings"]]
    return {"linear": {"coef": coef, "intercept": intercepts}, "link": links[post]}, classes


def tree_ensemble_regressor(node):
    a = attrs(node)
    if a.get("n_targets", 1) != 1:
        fail(node, "only one target is handled by this example")
    if text(a.get("post_transform", b"NONE")) != "NONE":
        fail(node, "only post_transform NONE is handled by this example")
    modes = [text(m) for m in a["nodes_modes"]]
    if any(m not in ("BRANCH_LEQ", "LEAF") for m in modes):
        fail(node, f"node modes {sorted(set(modes))}: only BRANCH_LEQ is handled by this example")
    missing = a.get("nodes_missing_value_tracks_true", [0] * len(modes))
    trees = {}
    for i, (tree, nid) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"])):
        trees.setdefault(tree, {})[nid] = i
    leaf_value = {}
    for tree, nid, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"]):
        leaf_value[(tree, nid)] = leaf_value.get((tree, nid), 0.0) + w
    out = []
    for tree, index_of in sorted(trees.items()):
        # Renumber this tree's nodes 0..n in ONNX order; node 0 must be the root.
        order = sorted(index_of, key=lambda nid: index_of[nid])
        position = {nid: p for p, nid in enumerate(order)}
        nodes, values = [], []
        for nid in order:
            i = index_of[nid]
            if modes[i] == "LEAF":
                nodes.append({"leaf": {"offset": len(values)}})
                values.append(leaf_value.get((tree, nid), 0.0))
            else:
                nodes.append({"split": {
                    "feature": a["nodes_featureids"][i],
                    "threshold": a["nodes_values"][i],
                    "left": position[a["nodes_truenodeids"][i]],
                    "right": position[a["nodes_falsenodeids"][i]],
                    "missing_left": bool(missing[i]),
                }})
        out.append({"nodes": nodes, "values": values, "outputs": 1})
    return {"trees": out, "aggregate": "sum", "base": list(a.get("base_values", []))}


def main(onnx_path, meta_path):
    model = onnx.load(onnx_path)
    meta = json.load(open(meta_path))
    features = [f["name"] for f in meta["features"]]
    params = {"source": meta["name"], "features": features}
    for node in model.graph.node:
        if node.op_type == "Scaler":
            params["scaler"] = scaler(node)
        elif node.op_type == "LinearClassifier":
            params["model"], params["classes"] = linear_classifier(node, len(features))
        elif node.op_type == "Normalizer":
            # skl2onnx adds an L1 Normalizer after the classifier's own
            # softmax/logistic step; probabilities already sum to one.
            if text(attrs(node)["norm"]) != "L1":
                fail(node, "only an L1 normalizer after a classifier is handled")
        elif node.op_type == "TreeEnsembleRegressor":
            params["model"] = tree_ensemble_regressor(node)
        else:
            fail(node, "operator not handled by this example")
    json.dump(params, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])

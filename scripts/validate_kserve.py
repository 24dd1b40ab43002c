#!/usr/bin/env python3
"""Validate the KServe manifests offline, strictly, against vendored CRDs.

Usage: validate_kserve.py [FILE.yaml ...] [--crds DIR] [--self-test]

Every document of the files (default: examples/kserve/*.yaml) is checked
against the openAPIV3Schema that the CRDs in DIR (default:
examples/kserve/crds/, KServe's own, see its README) declare for its
apiVersion and kind:

- the schema itself, with jsonschema (Draft 4, the dialect OpenAPI 3.0
  schemas follow): types, required fields, enums, patterns, bounds. The
  `x-kubernetes-*` extensions are dropped for it, except that
  `x-kubernetes-int-or-string` admits an integer or a string and
  `x-kubernetes-preserve-unknown-fields` admits anything undeclared;
- unknown fields, as the API server reports them under
  `kubectl apply --validate=strict`: a key that the schema does not declare,
  where the object has neither `additionalProperties` nor
  `x-kubernetes-preserve-unknown-fields` (an object schema with no
  properties at all accepts no key: the server would prune them all);
- duplicate keys in the YAML, and duplicates in lists the schema marks
  `x-kubernetes-list-type: map` (by their keys) or `set`;
- `metadata` as ObjectMeta: known fields only, a DNS-1123 name, labels and
  annotations as string maps, label syntax;
- how KServe would pick a runtime for each InferenceService: among the
  (Cluster)ServingRuntimes of the same files, one that supports its model
  format (autoSelect, or named by `runtime`) and protocol version, with a
  `kserve-container`; and a runtime offering a gRPC protocol names its
  first port h2c or grpc, or gRPC cannot get through Knative's queue-proxy.

ConfigMaps, Secrets and ServiceAccounts are checked minimally (known
top-level fields, metadata, string maps); `.ci/run` also passes the same
files to `kubernetes-validate --strict`, which checks those kinds against
the Kubernetes schemas (and skips the KServe kinds). Not checked: CEL rules
(`x-kubernetes-validations`; KServe's CRDs have none), string formats, and
KServe's admission webhooks beyond the runtime choice above.

Prints each problem as FILE:LINE: KIND/NAME: PATH: MESSAGE and exits 1 if
there is any. --self-test instead breaks the manifests in known ways (an
unknown field, a wrong type, a missing field, ...) and checks that each is
reported at its path, and that what must pass passes; exit 1 otherwise.

Needs PyYAML and jsonschema (.ci/run pins them).
"""

import argparse
import copy
import glob
import os
import re
import sys

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(ROOT, "examples", "kserve")

# The runtime container KServe merges an InferenceService's predictor into.
KSERVE_CONTAINER = "kserve-container"
OBJECT_META_FIELDS = {
    "name": str,
    "generateName": str,
    "namespace": str,
    "labels": dict,
    "annotations": dict,
    "finalizers": list,
    "ownerReferences": list,
    "uid": str,
    "resourceVersion": str,
    "generation": int,
    "creationTimestamp": str,
    "deletionTimestamp": str,
    "deletionGracePeriodSeconds": int,
    "managedFields": list,
    "selfLink": str,
}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

# The core kinds these files may hold, checked minimally: their top-level
# fields, and those that must be maps of strings.
CORE_KINDS = {
    ("v1", "ConfigMap"): ({"data", "binaryData", "immutable"}, {"data", "binaryData"}),
    ("v1", "Secret"): ({"data", "stringData", "type", "immutable"}, {"data", "stringData"}),
    ("v1", "ServiceAccount"): (
        {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
        set(),
    ),
}


class Problem:
    def __init__(self, where, path, message):
        self.where = where  # "file:line: Kind/name"
        self.path = path  # a list of keys and indices
        self.message = message

    def text(self):
        return "%s: %s: %s" % (self.where, render(self.path) or "(document)", self.message)


def render(path):
    out = ""
    for part in path:
        out += "[%d]" % part if isinstance(part, int) else ("." if out else "") + str(part)
    return out


# ---------------------------------------------------------------- YAML


class Document:
    """One YAML document: its data, where it starts, and each path's line."""

    def __init__(self, source, index, data, lines, duplicates):
        self.source, self.index, self.data = source, index, data
        self.lines = lines  # tuple(path) -> line number
        self.duplicates = duplicates  # (path, key, line)

    def line(self, path):
        for n in range(len(path), -1, -1):
            if tuple(path[:n]) in self.lines:
                return self.lines[tuple(path[:n])]
        return 1

    def where(self, path=()):
        data = self.data if isinstance(self.data, dict) else {}
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        return "%s:%d: %s/%s" % (
            self.source,
            self.line(list(path)),
            data.get("kind", "?"),
            meta.get("name", "?"),
        )


def read_documents(text, source):
    """Parses every document, keeping each node's line and the duplicate
    keys PyYAML would otherwise drop silently (the API server refuses them)."""
    loader = yaml.SafeLoader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines, duplicates = {}, []
            index_lines(node, [], lines, duplicates)
            data = loader.construct_document(node)
            if data is not None:
                docs.append(Document(source, len(docs), data, lines, duplicates))
    finally:
        loader.dispose()
    return docs


def index_lines(node, path, lines, duplicates):
    lines[tuple(path)] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a key that is a list or a mapping: the schema refuses it
            key = key_node.value
            if key in seen:
                duplicates.append((list(path), key, key_node.start_mark.line + 1))
            seen.add(key)
            index_lines(value_node, path + [key], lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index_lines(item, path + [i], lines, duplicates)


def load_crds(crd_dir):
    """(apiVersion, kind) -> (schema, served, file), from every CRD in crd_dir."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the schemas are large
    schemas = {}
    for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            for crd in yaml.load_all(f, Loader=loader):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    key = ("%s/%s" % (spec["group"], version["name"]), spec["names"]["kind"])
                    schemas[key] = (
                        version["schema"]["openAPIV3Schema"],
                        version.get("served", False),
                        os.path.basename(path),
                    )
    return schemas


# ---------------------------------------------------------------- schemas


def to_json_schema(node):
    """The structural schema as plain JSON Schema (Draft 4)."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


class Validator:
    def __init__(self, crd_dir):
        self.crds = load_crds(crd_dir)
        self.compiled = {}

    def json_validator(self, key):
        if key not in self.compiled:
            self.compiled[key] = jsonschema.Draft4Validator(to_json_schema(self.crds[key][0]))
        return self.compiled[key]

    def check(self, doc):
        """Every problem of one document, but the cross-document ones."""
        problems = []

        def report(path, message):
            problems.append(Problem(doc.where(path), list(path), message))

        for path, key, line in doc.duplicates:
            problems.append(
                Problem(
                    doc.where(path),
                    path + [key],
                    "duplicate key (line %d): YAML keeps the last, the API server refuses it"
                    % line,
                )
            )
        data = doc.data
        if not isinstance(data, dict):
            report([], "not a mapping")
            return problems
        key = (data.get("apiVersion"), data.get("kind"))
        if key in self.crds:
            schema, served, crd_file = self.crds[key]
            if not served:
                report(["apiVersion"], "%s is not served by %s" % (key[0], crd_file))
            for error in sorted(
                self.json_validator(key).iter_errors(data),
                key=lambda e: list(map(str, e.absolute_path)),
            ):
                report(list(error.absolute_path), shorten(error.message))
            walk_unknown(schema, data, [], report, root=True)
        elif key in CORE_KINDS:
            check_core(data, CORE_KINDS[key], report)
        else:
            report(
                ["kind"],
                "no schema for apiVersion %r, kind %r (CRDs: %s)"
                % (key[0], key[1], ", ".join(sorted("%s %s" % k for k in self.crds))),
            )
        return problems


def shorten(message, limit=300):
    return message if len(message) <= limit else message[:limit] + " …"


def walk_unknown(schema, value, path, report, root=False):
    """Unknown fields and list-type duplicates, as the API server sees them."""
    if isinstance(value, dict):
        if schema.get("type") not in (None, "object"):
            return  # a type error, which jsonschema reports
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        for key, sub in value.items():
            here = path + [key]
            if (root or embedded) and key == "metadata":
                check_object_meta(sub, here, report)
            elif key in props:
                walk_unknown(props[key], sub, here, report)
            elif isinstance(extra, dict):
                walk_unknown(extra, sub, here, report)
            elif extra is True or preserve or (embedded and key in ("apiVersion", "kind")):
                continue
            else:
                known = ", ".join(sorted(props)) if props else "none"
                report(here, "unknown field %r (known here: %s)" % (key, shorten(known, 200)))
    elif isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return
        list_type = schema.get("x-kubernetes-list-type")
        map_keys = schema.get("x-kubernetes-list-map-keys") or []
        what = "list-type %s" % list_type
        if list_type == "map":
            what += ", keys " + "+".join(map_keys)
        seen = {}
        for i, item in enumerate(value):
            walk_unknown(items, item, path + [i], report)
            if list_type == "set":
                ident = repr(item)
            elif list_type == "map" and isinstance(item, dict):
                # A key left out takes its default, as on the server.
                item_props = items.get("properties") or {}
                ident = repr(
                    tuple(item.get(k, (item_props.get(k) or {}).get("default")) for k in map_keys)
                )
            else:
                continue
            if ident in seen:
                report(path + [i], "duplicate of item %d (%s)" % (seen[ident], what))
            else:
                seen[ident] = i


def check_object_meta(meta, path, report):
    if not isinstance(meta, dict):
        report(path, "metadata must be a mapping")
        return
    for key, value in meta.items():
        if key not in OBJECT_META_FIELDS:
            report(path + [key], "unknown field %r in ObjectMeta" % key)
        elif not isinstance(value, OBJECT_META_FIELDS[key]) or isinstance(value, bool):
            report(
                path + [key],
                "expected %s, got %s" % (OBJECT_META_FIELDS[key].__name__, type(value).__name__),
            )
    name = meta.get("name")
    if name is None and meta.get("generateName") is None:
        report(path, "name is required")
    elif isinstance(name, str) and (len(name) > 253 or not DNS_SUBDOMAIN.match(name)):
        report(
            path + ["name"],
            "%r is not a DNS-1123 subdomain (lower case alphanumerics, '-', '.')" % name,
        )
    for field in ("labels", "annotations"):
        entries = meta.get(field)
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            if not isinstance(value, str):
                report(
                    path + [field, key],
                    "value must be a string, got %s (quote it)" % type(value).__name__,
                )
            if field == "labels":
                if not label_key_ok(str(key)):
                    report(path + [field, key], "not a valid label key")
                if isinstance(value, str) and (len(value) > 63 or not LABEL_NAME.match(value)):
                    report(path + [field, key], "not a valid label value")


def label_key_ok(key):
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(LABEL_NAME.match(name))


def check_core(data, rules, report):
    allowed, string_maps = rules
    for key, value in data.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            check_object_meta(value, [key], report)
        elif key not in allowed:
            report(
                [key],
                "unknown field %r (known here: %s)"
                % (key, ", ".join(sorted(allowed | {"metadata"}))),
            )
        elif key in string_maps:
            if not isinstance(value, dict):
                report([key], "must be a mapping of strings")
                continue
            for k, v in value.items():
                if not isinstance(v, str):
                    report([key, k], "value must be a string, got %s (quote it)" % type(v).__name__)
                if not CONFIG_KEY.match(str(k)):
                    report([key, k], "not a valid key (alphanumerics, '-', '_', '.')")
        elif key in ("immutable", "automountServiceAccountToken") and not isinstance(value, bool):
            report([key], "must be a boolean")
        elif key == "type" and not isinstance(value, str):
            report([key], "must be a string")
        elif key in ("secrets", "imagePullSecrets"):
            if not isinstance(value, list) or not all(
                isinstance(r, dict) and isinstance(r.get("name"), str) for r in value
            ):
                report([key], "must be a list of references with a name")


# ---------------------------------------------------------------- KServe


def check_runtime_choice(docs):
    """Which runtime KServe would give each InferenceService, among these files."""
    problems = []
    runtimes = {}
    for doc in docs:
        d = doc.data
        if isinstance(d, dict) and d.get("kind") in ("ClusterServingRuntime", "ServingRuntime"):
            spec = d.get("spec") or {}
            runtimes[(d.get("metadata") or {}).get("name")] = (doc, spec)
            protocols = spec.get("protocolVersions") or []
            containers = spec.get("containers") or []
            first = next(
                (
                    c
                    for c in containers
                    if isinstance(c, dict) and c.get("name") == KSERVE_CONTAINER
                ),
                None,
            )
            if first is None:
                problems.append(
                    Problem(
                        doc.where(["spec", "containers"]),
                        ["spec", "containers"],
                        "no container named %s: KServe merges the predictor into it"
                        % KSERVE_CONTAINER,
                    )
                )
            elif any(str(p).startswith("grpc") for p in protocols):
                ports = first.get("ports") or [{}]
                name = str(ports[0].get("name", ""))
                if "h2c" not in name and "grpc" not in name:
                    problems.append(
                        Problem(
                            doc.where(["spec", "containers"]),
                            ["spec", "containers", containers.index(first), "ports"],
                            "offers %s but its first port is named %r: only a name with h2c "
                            "or grpc makes Knative's queue-proxy (and KServe's Service) speak "
                            "HTTP/2 to it" % (", ".join(protocols), name),
                        )
                    )
    for doc in docs:
        d = doc.data
        if not (isinstance(d, dict) and d.get("kind") == "InferenceService"):
            continue
        model = ((d.get("spec") or {}).get("predictor") or {}).get("model")
        if not isinstance(model, dict):
            continue
        path = ["spec", "predictor", "model"]
        fmt = model.get("modelFormat") or {}
        named = model.get("runtime")
        protocol = model.get("protocolVersion")
        chosen = []
        for name, (_, spec) in runtimes.items():
            if named is not None and name != named or spec.get("disabled") is True:
                continue
            offered = set()
            for f in spec.get("supportedModelFormats") or []:
                if named is not None or f.get("autoSelect") is True:
                    offered.add(f.get("name"))
                    if f.get("version") is not None:
                        offered.add("%s:%s" % (f.get("name"), f.get("version")))
            wanted = (
                fmt.get("name")
                if fmt.get("version") is None
                else "%s:%s" % (fmt.get("name"), fmt.get("version"))
            )
            # Without protocolVersion, KServe looks for v1 when it picks the
            # runtime, and checks nothing when the runtime is named; a runtime
            # that lists no protocol takes them all.
            asked = protocol if protocol is not None or named is not None else "v1"
            offers = spec.get("protocolVersions") or []
            if wanted in offered and (asked is None or not offers or asked in offers):
                chosen.append(name)
        if not chosen:
            problems.append(
                Problem(
                    doc.where(path),
                    path,
                    "no runtime in these files serves model format %r%s%s"
                    % (
                        fmt.get("name"),
                        " version %r" % fmt["version"] if fmt.get("version") is not None else "",
                        " over %s" % protocol if protocol else "",
                    )
                    + (" (named runtime %r)" % named if named else ""),
                )
            )
    return problems


def validate(validator, docs):
    problems = []
    for doc in docs:
        problems += validator.check(doc)
    return problems + check_runtime_choice(docs)


# ---------------------------------------------------------------- self-test


def self_test(validator, docs):
    """Breaks the manifests in known ways; each break must be reported at its
    path, and what is valid must stay valid."""

    def first(kind, name=None):
        for doc in docs:
            if (
                isinstance(doc.data, dict)
                and doc.data.get("kind") == kind
                and (name is None or doc.data["metadata"]["name"] == name)
            ):
                return doc
        raise SystemExit(
            "self-test: the manifests have no %s%s" % (kind, " " + name if name else "")
        )

    def get_at(data, path):
        for part in path:
            data = data[part]
        return data

    def set_at(data, path, value):
        get_at(data, path[:-1])[path[-1]] = value

    def delete_at(data, path):
        return get_at(data, path[:-1]).pop(path[-1])

    def rename(data, path, new_name):
        set_at(data, path[:-1] + [new_name], delete_at(data, path))

    runtime = ["spec", "containers", 0]
    predictor = ["spec", "predictor"]
    # (what, kind, mutate(data), path expected, text expected); no path: must pass.
    # fmt: off
    cases = [
        ("unknown field in a runtime container", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["portz"], []),
         runtime + ["portz"], "unknown field"),
        ("unknown field at the top of a spec", "ClusterServingRuntime",
         lambda d: set_at(d, ["spec", "protocolVersion"], "v2"),
         ["spec", "protocolVersion"], "unknown field"),
        ("string for a boolean", "ClusterServingRuntime",
         lambda d: set_at(d, ["spec", "supportedModelFormats", 0, "autoSelect"], "yes"),
         ["spec", "supportedModelFormats", 0, "autoSelect"], "is not of type 'boolean'"),
        ("string for an int32 port", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["ports", 0, "containerPort"], "8080"),
         runtime + ["ports", 0, "containerPort"], "is not of type 'integer'"),
        ("missing required field", "ClusterServingRuntime",
         lambda d: delete_at(d, ["spec", "containers"]),
         ["spec"], "'containers' is a required property"),
        ("list-map key repeated (two ports 8080/TCP)", "ClusterServingRuntime",
         lambda d: get_at(d, runtime + ["ports"]).append({"name": "http", "containerPort": 8080}),
         runtime + ["ports", 1], "duplicate of item 0"),
        ("list for an int-or-string", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["resources", "limits", "cpu"], [2]),
         runtime + ["resources", "limits", "cpu"], "not valid under any of the given schemas"),
        ("int-or-string takes an integer", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["resources", "limits", "cpu"], 2),
         None, None),
        ("int-or-string takes a port name", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["livenessProbe", "httpGet", "port"], "h2c"),
         None, None),
        ("gRPC offered, port not named h2c", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["ports", 0, "name"], "http"),
         runtime + ["ports"], "queue-proxy"),
        ("no kserve-container", "ClusterServingRuntime",
         lambda d: set_at(d, runtime + ["name"], "glassbox"),
         ["spec", "containers"], "no container named"),
        ("misspelt storageUri", "InferenceService",
         lambda d: rename(d, predictor + ["model", "storageUri"], "storageURI"),
         predictor + ["model", "storageURI"], "unknown field"),
        ("string for minReplicas", "InferenceService",
         lambda d: set_at(d, predictor + ["minReplicas"], "1"),
         predictor + ["minReplicas"], "is not of type 'integer'"),
        ("unknown field in metadata", "InferenceService",
         lambda d: set_at(d, ["metadata", "labelz"], {}),
         ["metadata", "labelz"], "unknown field"),
        ("number as a label value", "InferenceService",
         lambda d: set_at(d, ["metadata", "labels", "tier"], 1),
         ["metadata", "labels", "tier"], "must be a string"),
        ("unknown field under preserve-unknown-fields is kept", "InferenceService",
         lambda d: set_at(d, ["status"], {"somethingNew": 1}),
         None, None),
        ("... but declared fields there are still typed", "InferenceService",
         lambda d: set_at(d, ["status"], {"observedGeneration": "x"}),
         ["status", "observedGeneration"], "is not of type 'integer'"),
        ("an apiVersion no CRD serves", "InferenceService",
         lambda d: set_at(d, ["apiVersion"], "serving.kserve.io/v1beta2"),
         ["kind"], "no schema"),
        ("a model format no runtime serves", "InferenceService",
         lambda d: set_at(d, predictor + ["model", "modelFormat", "name"], "glasbox"),
         predictor + ["model"], "no runtime"),
        ("a protocol the runtime does not offer", "InferenceService",
         lambda d: set_at(d, predictor + ["model", "protocolVersion"], "grpc-v1"),
         predictor + ["model"], "no runtime"),
        ("number in a ConfigMap", "ConfigMap",
         lambda d: set_at(d, ["data", "answer"], 42),
         ["data", "answer"], "must be a string"),
        ("unknown field in a ConfigMap", "ConfigMap",
         lambda d: set_at(d, ["spec"], {}),
         ["spec"], "unknown field"),
    ]
    # fmt: on
    failures = []
    baseline = validate(validator, docs)
    for p in baseline:
        failures.append("the manifests as they are: %s" % p.text())
    for what, kind, mutate, path, text in cases:
        target = first(kind)
        broken = copy.deepcopy(target.data)
        mutate(broken)
        trial = [
            Document(d.source, d.index, broken if d is target else d.data, d.lines, d.duplicates)
            for d in docs
        ]
        found = validate(validator, trial)
        if path is None:
            if found:
                failures.append(
                    "%s: wrongly reported: %s" % (what, "; ".join(p.text() for p in found))
                )
        elif not any(p.path == path and text in p.message for p in found):
            failures.append(
                "%s: not reported at %s (got: %s)"
                % (what, render(path), "; ".join(p.text() for p in found) or "nothing")
            )
        else:
            print(
                "self-test: %-50s reported: %s"
                % (what, next(p.text() for p in found if p.path == path and text in p.message))
            )
    # A key given twice, which only the YAML text shows.
    twice = read_documents(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n", "<self-test>"
    )
    found = validate(validator, twice)
    if not any(p.path == ["metadata", "name"] and "duplicate key" in p.message for p in found):
        failures.append(
            "duplicate key: not reported (got: %s)"
            % ("; ".join(p.text() for p in found) or "nothing")
        )
    else:
        print("self-test: %-50s reported: %s" % ("duplicate key", found[0].text()))
    for f in failures:
        print("self-test FAILED: %s" % f)
    print("self-test: %d cases, %d failed" % (len(cases) + 1, len(failures)))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="manifests (default: examples/kserve/*.yaml)")
    parser.add_argument(
        "--crds", default=os.path.join(DEFAULT_DIR, "crds"), help="directory of CRD files"
    )
    parser.add_argument(
        "--self-test", action="store_true", help="check that broken manifests are reported"
    )
    args = parser.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(DEFAULT_DIR, "*.yaml")))
    if not files:
        parser.error("no manifests found")
    validator = Validator(args.crds)
    if not validator.crds:
        parser.error("no CustomResourceDefinition in %s" % args.crds)
    docs = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            try:
                docs += read_documents(f.read(), os.path.relpath(path))
            except yaml.YAMLError as e:
                print("%s: not YAML: %s" % (os.path.relpath(path), e))
                return 1
    if args.self_test:
        return self_test(validator, docs)
    problems = validate(validator, docs)
    for p in problems:
        print(p.text())
    kinds = sorted(
        {
            "%s/%s" % (d.data.get("kind"), (d.data.get("metadata") or {}).get("name"))
            for d in docs
            if isinstance(d.data, dict)
        }
    )
    print(
        "%d documents in %d files (%s) against %s: %s"
        % (
            len(docs),
            len(files),
            ", ".join(kinds),
            ", ".join(sorted({v[2] for v in validator.crds.values()})),
            "%d problems" % len(problems) if problems else "valid",
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
